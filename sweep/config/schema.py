"""The typed sweep config and its validation.

Hydra composes the YAML in ``conf/``; ``sweep.config.compose`` merges it onto these dataclasses (which
rejects unknown keys and wrong types) and ``SweepConfig.validate`` checks ranges and combinations,
raising ``ConfigError`` with the key, the problem and the fix.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, List, Optional

from trainables import names
from trainables.choices import Objective, Placement, Prior, Regularizer, Sampler, Scheduler
from trainables.data.types import DATASETS, DataSpec
from trainables.errors import ConfigError
from trainables.model.source import SEED_CNN
from trainables.user_code import is_target
from trainables.model.regularizers import RegularizerSpec
from trainables.settings import TrainSettings

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
#: The endings of the Ray experiment names a sweep gives its confirmation rounds (sweep.confirm.rounds).
_INTERNAL_NAME_RE = re.compile(r"-confirm(-\d+)?$")


@dataclass
class SearchConfig:
    """The search space and the searcher."""

    num_samples: int = 16
    """How many trials Optuna proposes."""
    regularizers: List[Regularizer] = field(default_factory=lambda: list(Regularizer))
    """Regularizers to compare: any of none, l1, l2, elastic_net. The none baseline is measured once
    in every sweep, listed or not."""
    placements: List[Placement] = field(default_factory=lambda: [Placement.kernel_bias, Placement.activity])
    """Where the penalty goes: any of kernel, bias, activity, kernel_bias."""
    lambda_low: float = 1e-5
    """Lower end of lambda's log-uniform range."""
    lambda_high: float = 1e-1
    """Upper end of lambda's log-uniform range."""
    l1_ratio_low: float = 0.0
    """Lower end of elastic net's l1_ratio (scikit-learn's meaning: 0 = pure L2)."""
    l1_ratio_high: float = 1.0
    """Upper end of elastic net's l1_ratio (1 = pure L1)."""
    seed: int = 0
    """Seed of the sampler."""
    sampler: Sampler = Sampler.tpe
    """tpe: multivariate TPE over the conditional space (windowed, so each proposal costs the same at
    10,000 trials). gp: Optuna's GPSampler (install torch: pip install 'regsweep[gp]'); elastic net's
    l1_ratio, which only some trials have, is then drawn at random."""
    startup_trials: int = 8
    """Trials (points_to_evaluate included) before TPE starts modelling the results."""
    patience: int = 3
    """The search stops starting trials once this many trials in a row completed (ran the full budget, or
    collapsed or diverged) without beating the best validation accuracy so far (Optuna's Terminator with its
    BestValueStagnationEvaluator; trials ASHA stopped early do not count): its answer is settled, and
    the epochs it saves go to confirmation seeds. 0 = never (every num_samples trial starts)."""
    confirm_seeds: int = 4
    """Seeds per confirmed config in the first round, the search trial's own included: the top configs
    and the baseline are re-run with train.seed+1, +2, ..., each seed on its own train/validation/test
    split, so the answer is a mean with a spread. No look comes before 3 fresh paired seeds, so 2 and 3
    train 3 as well. 0 or 1 = off."""
    futility: float = 0.10
    """Confirmation stops a candidate at an interim look once its chance of showing a gain by the last
    look (conditional power at the gain and spread measured so far) falls below this; 0 = never."""
    confirm_splits: bool = True
    """Each confirmation seed draws its own train/validation/test split (the baseline and the candidates at
    that seed share it), so the interval of the gain covers the data's sampling as well as the training's.
    false: every seed on the sweep's own split, a narrower interval that speaks for that test split only."""
    confirm_top: int = 1
    """How many of the best completed penalized configs are confirmed (the baseline always is)."""
    confirm_max_seeds: int = 10
    """The most seeds per confirmed config over all rounds, the search's own included: confirmation
    adds one paired seed a round until the race is decided (sweep.confirm.sequential), at most this many."""
    budget_epochs: Optional[int] = None
    """Epochs the whole sweep may train, search and confirmation together: no trial or round starts
    that could pass it. The search gets all but the first confirmation round's share. null =
    num_samples x train.epochs (what the search would train without early stopping) plus the first
    confirmation round; 0 = no cap."""
    confidence: float = 0.95
    """Level of the verdict's paired t intervals: a penalty "helped" when the one-sided test of its paired
    test gain over no regularization, on the confirmation seeds, holds at (1 - confidence) / 2 over all
    looks and candidates (sweep.confirm.sequential)."""
    points_to_evaluate: List[Dict[str, Any]] = field(default_factory=list)
    """Your own known configs to try first; each must lie inside the space."""
    article_points: bool = True
    """Also try first the article's penalized runs (lambda=0.01, and L2 on activity at 0.1) that lie
    inside the space."""
    baseline: bool = True
    """Measure the unregularized control first (at full budget, never stopped early): every gain is
    stated against it. Turn off only when the sweep must not spend a trial on it."""
    max_concurrent_trials: int = 0
    """At most this many trials at once; 0 = as many as the resources allow."""
    objectives: List[Objective] = field(default_factory=lambda: [Objective.val_accuracy])
    """What Optuna maximizes: [val_accuracy], or [val_accuracy, sparsity] for the accuracy/sparsity
    Pareto front (multi-objective TPE, and ASHA decides its rungs on both). The sparsity objective is
    the removable fraction (``removable``): weights pruning removes within accuracy_tolerance."""
    collapse_descent: float = 5.0
    """With sparsity an objective: after an L1 or elastic-net trial collapses at lambda, try the same
    penalty and placement at lambda / collapse_descent next (at least 3; 0 = off)."""
    accuracy_tolerance: float = 0.01
    """The accuracy a sparse answer may give up (0.01 = 1 percentage point): the removable metric
    prunes while validation accuracy stays within it, and the compressible model and the L1 answer
    are the sparsest completed trials within it of the best validation accuracy."""
    prior: Prior = Prior.none
    """auto: the data profile's rule of thumb (L1, L2 or elastic net) gives the first points tried."""
    grid: bool = False
    """Train exactly the baseline and the starting points, with no Optuna proposals (preset=article)."""


@dataclass
class SchedulerConfig:
    """Early stopping."""

    name: Scheduler = Scheduler.asha
    """asha (stop weak trials early) or fifo (run every trial to the end)."""
    grace_period: int = 5
    """ASHA: epochs every trial gets before it can be stopped (capped at train.epochs)."""
    reduction_factor: int = 4
    """ASHA: keep the top 1/reduction_factor at each rung."""
    multi_objective: bool = True
    """ASHA with two search.objectives: decide each rung by non-dominated sorting over both (MOASHA; a
    trial on the rung's front is never stopped); false ranks on val_accuracy alone, as before."""
    spare_within_se: float = 1.0
    """ASHA with one objective: a trial it would stop at a rung goes on when its val_accuracy is within
    this many standard errors of the validation split of the baseline's at that epoch (penalties
    learn slower early, then overtake); 0 = ASHA's rule alone (sweep.search.rungs)."""


@dataclass
class ClusterConfig:
    """Where trials run and with what."""

    address: Optional[str] = None
    """Ray cluster to join (auto or host:6379); null starts a local Ray."""
    cpus_per_trial: float = 1.0
    """CPUs Ray reserves per trial (also TensorFlow's thread count)."""
    gpus_per_trial: Optional[float] = None
    """GPU share per trial in [0, 1]; null = 0.25 when the cluster has GPUs, else 0."""
    storage_path: Optional[str] = None
    """Ray experiment state and checkpoints: a path or URI (NFS/S3 on a cluster); null = ./ray_results."""
    max_failures: int = 2
    """Times Ray retries a failed trial from its last checkpoint."""


@dataclass
class TrackingConfig:
    """MLflow target."""

    uri: Optional[str] = None
    """MLflow server (http://host:5000); null = the local store in the working directory (./mlflow.db,
    ./mlartifacts), which `mlflow ui` there opens."""
    experiment: str = "regsweep"
    """MLflow experiment name; created if missing."""
    max_outage_s: float = 300.0
    """An outage longer than this is reported (trials keep training; the driver holds their records), and
    the end of the sweep waits at most this long for the server before giving up with exit 1."""


@dataclass
class ConsoleConfig:
    """What the launcher prints while the sweep runs."""

    verbose: bool = False
    """false: one compact live view of the trials, then the summary; true (or --verbose): Ray's full
    output, worker logs included."""


@dataclass
class RegularizeConfig:
    """Which layers of the model take the regularizer (names or class names, e.g. dense_1 or Dense)."""

    include: List[str] = field(default_factory=list)
    """Only these layers; empty = every layer that has a weight matrix (Dense, Conv*, Embedding, ...)."""
    exclude: List[str] = field(default_factory=list)
    """Never these layers (applied after include)."""


@dataclass
class SweepConfig:
    """Everything one sweep needs; the root of the Hydra config."""

    name: Optional[str] = None
    """The sweep's name (Ray experiment and MLflow parent run); null = a fresh timestamped name."""
    resume: bool = False
    """Continue the sweep called ``name`` after a crash."""
    output_dir: str = "outputs"
    """Where the summary CSV, best config and plots are written (under <output_dir>/<name>)."""
    model: str = SEED_CNN
    """``seed_cnn`` (the article's CNN) or ``<module>:<function>`` returning your Keras model."""
    regularize: RegularizeConfig = field(default_factory=RegularizeConfig)
    data: DataSpec = field(default_factory=DataSpec)
    train: TrainSettings = field(default_factory=TrainSettings)
    search: SearchConfig = field(default_factory=SearchConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    console: ConsoleConfig = field(default_factory=ConsoleConfig)

    def validate(self) -> "SweepConfig":
        """Raise ``ConfigError`` on the first bad value; return self for chaining."""
        _validate_data(self.data)
        _validate_model(self.model, self.regularize)
        _validate_train(self.train)
        _validate_search(self.search)
        _validate_scheduler(self.scheduler)
        _validate_cluster(self.cluster)
        _validate_tracking(self.tracking)
        if self.name is not None and not _NAME_RE.match(self.name):
            raise ConfigError(
                "name",
                f"{self.name!r} is not a usable sweep name",
                "use letters, digits, '.', '_' or '-' (at most 100 characters)",
            )
        budget = self.search.budget_epochs
        if budget and budget < self.train.epochs:  # the baseline trains every epoch: it would overrun the cap
            raise ConfigError("search.budget_epochs", f"{budget} is less than one trial's train.epochs "
                              f"({self.train.epochs}), so the baseline alone would overrun it",
                              f"raise search.budget_epochs to at least {self.train.epochs} (0 = no cap), "
                              "or lower train.epochs")
        _usable_dir("output_dir", self.output_dir)
        if self.cluster.storage_path and "://" not in self.cluster.storage_path:
            _usable_dir("cluster.storage_path", self.cluster.storage_path)
        if self.search.confirm_seeds >= 2:
            _validate_seed("train.seed", self.train.seed + max(self.search.confirm_seeds, self.search.confirm_max_seeds))
        if self.name is not None and _INTERNAL_NAME_RE.search(self.name):
            raise ConfigError(
                "name", f"{self.name!r} ends like the Ray experiments of a sweep's confirmation rounds "
                "(<name>-confirm, <name>-confirm-2, ...), so it could share one with another sweep",
                "pick a name that does not end in -confirm or -confirm-<number>")
        if self.resume and not self.name:
            raise ConfigError(
                "resume", "resume=true needs the name of the sweep to continue",
                "add name=<the sweep's name>, as printed when it started",
            )
        return self

    def sweep_name(self) -> str:
        """The given name, or a fresh one: timestamp plus a random suffix, so that two sweeps started
        in the same second in one directory do not share Ray state or a parent run."""
        return self.name or datetime.now().strftime("sweep-%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def _require(ok: bool, key: str, problem: str, fix: str) -> None:
    if not ok:
        raise ConfigError(key, problem, fix)


#: The largest validation share: the rest, at least as much, is trained on.
MAX_VAL_SPLIT = 0.5


def _validate_data(data: DataSpec) -> None:
    _validate_seed("data.seed", data.seed)
    _require(data.name in DATASETS, "data", f"unknown dataset {data.name!r}",
             f"use one of data={', data='.join(DATASETS)}")
    if data.loader is not None:
        _require(is_target(data.loader), "data.loader", f"{data.loader!r} is not <module>:<function>",
                 "use e.g. data.loader=my_pkg.data:load")
        _require(data.path is None, "data.path", "data.loader and data.path both give the arrays",
                 "keep one of them")
    elif data.name == "npz":
        _require(bool(data.path), "data.path", "data=npz needs the file",
                 "add data.path=/path/to/arrays.npz (x_train, y_train, optionally x_val, y_val, x_test, y_test)")
    _require(data.path is None or data.name == "npz", "data.path", f"only data=npz reads a file, not data={data.name}",
             "use data=npz data.path=..., or drop data.path")
    # at most half: a split that holds out more than it trains on measures the split's luck, not the
    # regularizer (data.val_split=0.999 started a sweep on 1 training example)
    _require(0.0 < data.val_split <= MAX_VAL_SPLIT, "data.val_split",
             f"must be in (0, {MAX_VAL_SPLIT}] (it must leave at least as much to train on as it holds out), "
             f"got {data.val_split}", "use e.g. data.val_split=0.2")


def _validate_model(model: str, regularize: RegularizeConfig) -> None:
    _require(model == SEED_CNN or is_target(model), "model", f"{model!r} is neither {SEED_CNN} nor <module>:<function>",
             "use e.g. model=my_pkg.models:build (a function returning a Keras model), or model=seed_cnn")
    both = sorted(set(regularize.include) & set(regularize.exclude))
    _require(not both, "regularize.exclude", f"{both} is both included and excluded", "name it in one list only")


#: NumPy's and Keras' seeds are unsigned 32-bit integers.
SEED_MAX = 2**32 - 1


def _validate_seed(key: str, seed: int) -> None:
    _require(0 <= seed <= SEED_MAX, key, f"must be in [0, {SEED_MAX}], got {seed}", f"use e.g. {key}=0")


def _validate_train(t: TrainSettings) -> None:
    _validate_seed("train.seed", t.seed)
    # confirmation seeds go up to train.seed + confirm_max_seeds - 1: checked in validate()
    _require(t.epochs >= 1, "train.epochs", f"must be >= 1, got {t.epochs}", "use e.g. train.epochs=25")
    _require(t.batch_size >= 1, "train.batch_size", f"must be >= 1, got {t.batch_size}",
             "use e.g. train.batch_size=250")
    _require(t.learning_rate > 0 and math.isfinite(t.learning_rate), "train.learning_rate",
             f"must be > 0, got {t.learning_rate}", "use e.g. train.learning_rate=0.001")
    _require(t.sparsity_threshold > 0, "train.sparsity_threshold",
             f"must be > 0, got {t.sparsity_threshold}", "use e.g. train.sparsity_threshold=0.001")
    _require(t.activation_batch >= 1, "train.activation_batch",
             f"must be >= 1, got {t.activation_batch}", "use e.g. train.activation_batch=256")
    _require(t.checkpoint_every >= 1, "train.checkpoint_every",
             f"must be >= 1, got {t.checkpoint_every}", "use e.g. train.checkpoint_every=1")
    _require(t.collapse_after is None or t.collapse_after >= 0, "train.collapse_after",
             f"must be >= 0, got {t.collapse_after}", "use null (the grace period), 0 (never) or an epoch count")
    _require(t.threads >= 0, "train.threads", f"must be >= 0, got {t.threads}",
             "use 0 to size threads from cluster.cpus_per_trial")


def _validate_search(s: SearchConfig) -> None:
    _validate_seed("search.seed", s.seed)
    _require(s.baseline or any(r != names.NONE for r in s.regularizers), "search.regularizers",
             "lists only none and search.baseline=false, so the sweep has no trial to run",
             "add a penalty (e.g. search.regularizers=[l2]) or set search.baseline=true")
    _require(s.num_samples >= 1, "search.num_samples", f"must be >= 1, got {s.num_samples}",
             "use e.g. search.num_samples=16")
    _require(len(s.regularizers) > 0, "search.regularizers", "the list is empty",
             f"list at least one of {', '.join(names.REGULARIZERS)}")
    _require(len(set(s.regularizers)) == len(s.regularizers), "search.regularizers",
             "lists a regularizer twice", "list each regularizer once")
    penalized = [r for r in s.regularizers if r != names.NONE]
    if penalized:
        _require(len(s.placements) > 0, "search.placements", "the list is empty",
                 f"list at least one of {', '.join(names.PLACEMENTS)}")
    _require(len(set(s.placements)) == len(s.placements), "search.placements",
             "lists a placement twice", "list each placement once")
    _require(s.lambda_low > 0 and math.isfinite(s.lambda_low), "search.lambda_low",
             f"must be > 0 for a log-uniform range, got {s.lambda_low}", "use e.g. search.lambda_low=1e-6")
    _require(s.lambda_low < s.lambda_high and math.isfinite(s.lambda_high), "search.lambda_high",
             f"must be greater than search.lambda_low ({s.lambda_high} <= {s.lambda_low})",
             "make lambda_low < lambda_high, e.g. 1e-6 and 1e-1")
    _require(0.0 <= s.l1_ratio_low <= 1.0, "search.l1_ratio_low",
             f"must be in [0, 1], got {s.l1_ratio_low}", "use a value in [0, 1] (scikit-learn's l1_ratio)")
    _require(0.0 <= s.l1_ratio_high <= 1.0, "search.l1_ratio_high",
             f"must be in [0, 1], got {s.l1_ratio_high}", "use a value in [0, 1] (scikit-learn's l1_ratio)")
    _require(s.l1_ratio_low <= s.l1_ratio_high, "search.l1_ratio_high",
             f"must be >= search.l1_ratio_low ({s.l1_ratio_high} < {s.l1_ratio_low})",
             "make l1_ratio_low <= l1_ratio_high")
    _require(s.sampler != Sampler.gp or importlib.util.find_spec("torch") is not None, "search.sampler",
             "gp needs torch, which is not installed", "pip install 'regsweep[gp]', or use search.sampler=tpe")
    _require(s.startup_trials >= 1, "search.startup_trials", f"must be >= 1, got {s.startup_trials}",
             "use e.g. search.startup_trials=8")
    _require(s.patience >= 0, "search.patience", f"must be >= 0, got {s.patience}",
             "use e.g. search.patience=3, or 0 to run every search.num_samples trial")
    _require(s.confirm_seeds >= 0, "search.confirm_seeds", f"must be >= 0, got {s.confirm_seeds}",
             "use e.g. search.confirm_seeds=4, or 0 to skip confirmation")
    _require(s.confirm_seeds < 2 or s.confirm_max_seeds >= s.confirm_seeds, "search.confirm_max_seeds",
             f"must be >= search.confirm_seeds ({s.confirm_seeds}), got {s.confirm_max_seeds}",
             f"use e.g. search.confirm_max_seeds={max(6, s.confirm_seeds)} (equal to confirm_seeds: one fixed round)")
    _require(s.budget_epochs is None or s.budget_epochs >= 0, "search.budget_epochs",
             f"must be >= 0, got {s.budget_epochs}",
             "use e.g. search.budget_epochs=400, null for num_samples x train.epochs, or 0 for no cap")
    _require(0.5 <= s.confidence < 1.0, "search.confidence", f"must be in [0.5, 1), got {s.confidence}",
             "use e.g. search.confidence=0.95 (a 95% interval)")
    _require(0.0 <= s.futility < 1.0, "search.futility", f"must be in [0, 1), got {s.futility}",
             "use e.g. search.futility=0.1, or 0 to run every candidate to the last look")
    _require(s.confirm_top >= 1, "search.confirm_top", f"must be >= 1, got {s.confirm_top}",
             "use e.g. search.confirm_top=1 (turn confirmation off with search.confirm_seeds=0)")
    _require(len(s.objectives) > 0 and len(set(s.objectives)) == len(s.objectives)
             and Objective.val_accuracy in s.objectives, "search.objectives",
             f"must list val_accuracy once, optionally with sparsity; got {[str(o) for o in s.objectives]}",
             "use search.objectives=[val_accuracy] or search.objectives=[val_accuracy,sparsity]")
    _require(s.collapse_descent == 0 or s.collapse_descent >= 3, "search.collapse_descent",
             f"must be 0 (off) or at least 3, got {s.collapse_descent}", "use e.g. search.collapse_descent=5")
    _require(0.0 <= s.accuracy_tolerance < 1.0, "search.accuracy_tolerance",
             f"must be in [0, 1), got {s.accuracy_tolerance}", "use e.g. search.accuracy_tolerance=0.01 (1 point)")
    _require(s.max_concurrent_trials >= 0, "search.max_concurrent_trials",
             f"must be >= 0, got {s.max_concurrent_trials}", "use 0 for no limit")
    for i, point in enumerate(s.points_to_evaluate):
        _validate_point(s, i, point)


def _validate_point(s: SearchConfig, i: int, point: Dict[str, Any]) -> None:
    key = f"search.points_to_evaluate[{i}]"
    unknown = sorted(set(point) - set(names.SEARCH_PARAMS))
    _require(not unknown, key, f"unknown param(s) {unknown}", f"use only {', '.join(names.SEARCH_PARAMS)}")
    try:
        spec = RegularizerSpec.from_trial_config(point)
    except ConfigError as exc:
        raise ConfigError(key, exc.problem, exc.fix) from None
    except (TypeError, ValueError):  # float('abc')
        raise ConfigError(key, f"lambda and l1_ratio must be numbers, got {point.get(names.LAMBDA)!r} and "
                          f"{point.get(names.L1_RATIO)!r}", "write e.g. lambda: 0.01") from None
    _require(spec.kind in s.regularizers, key, f"regularizer {spec.kind!r} is not in search.regularizers",
             "add it to search.regularizers or drop the point")
    if spec.kind == names.NONE:
        _require(set(point) == {names.REGULARIZER}, key, "regularizer none takes no other params",
                 "give only regularizer: none")
        return
    _require(names.PLACEMENT in point and names.LAMBDA in point, key,
             "needs placement and lambda", "give regularizer, placement and lambda")
    _require(spec.placement in s.placements, key, f"placement {spec.placement!r} is not in search.placements",
             "add it to search.placements or drop the point")
    _require(s.lambda_low <= spec.lam <= s.lambda_high, key,
             f"lambda {spec.lam} is outside [{s.lambda_low}, {s.lambda_high}]",
             "widen search.lambda_low/lambda_high or drop the point")
    if spec.kind == names.ELASTIC_NET:
        _require(s.l1_ratio_low <= float(spec.l1_ratio) <= s.l1_ratio_high, key,  # type: ignore[arg-type]
                 f"l1_ratio {spec.l1_ratio} is outside [{s.l1_ratio_low}, {s.l1_ratio_high}]",
                 "widen search.l1_ratio_low/high or drop the point")


def _validate_scheduler(sc: SchedulerConfig) -> None:
    if sc.name == Scheduler.asha:
        _require(sc.grace_period >= 1, "scheduler.grace_period", f"must be >= 1, got {sc.grace_period}",
                 "use e.g. scheduler.grace_period=2")
        _require(sc.spare_within_se >= 0 and math.isfinite(sc.spare_within_se), "scheduler.spare_within_se",
                 f"must be >= 0, got {sc.spare_within_se}", "use e.g. scheduler.spare_within_se=1, or 0 for off")
        _require(sc.reduction_factor >= 2, "scheduler.reduction_factor",
                 f"must be >= 2, got {sc.reduction_factor}", "use e.g. scheduler.reduction_factor=3")


#: URI schemes of the pyarrow file systems Ray's storage_path works with.
STORAGE_SCHEMES = frozenset({"s3", "gs", "gcs", "hdfs", "abfs", "abfss", "file"})


def _usable_dir(key: str, path: str) -> None:
    """``path`` is a folder, or can be made one: its nearest existing ancestor is a writable folder."""
    target = Path(path).expanduser()
    existing = next((p for p in (target, *target.parents) if p.exists()), None)
    _require(existing is not None and existing.is_dir() and os.access(existing, os.W_OK), key,
             f"{path!r} cannot hold a folder ({existing} is not a writable folder)",
             f"point {key} at a folder you can write")


def _validate_cluster(c: ClusterConfig) -> None:
    _require(c.cpus_per_trial > 0, "cluster.cpus_per_trial", f"must be > 0, got {c.cpus_per_trial}",
             "use e.g. cluster.cpus_per_trial=1")
    if c.gpus_per_trial is not None:
        _require(0.0 <= c.gpus_per_trial <= 1.0, "cluster.gpus_per_trial",
                 f"must be a GPU fraction in [0, 1], got {c.gpus_per_trial}",
                 "use e.g. cluster.gpus_per_trial=0.25 (four trials per GPU) or 0 for CPU only")
    _require(c.max_failures >= 0, "cluster.max_failures", f"must be >= 0, got {c.max_failures}",
             "use e.g. cluster.max_failures=2")
    if c.storage_path and "://" in c.storage_path:
        scheme = c.storage_path.split("://", 1)[0].lower()
        _require(scheme in STORAGE_SCHEMES, "cluster.storage_path",
                 f"{scheme}:// is not a storage Ray can use", f"use a shared path, or a URI with one of "
                 f"{', '.join(s + '://' for s in sorted(STORAGE_SCHEMES))}")
    if c.address is not None:
        _require(c.address == "auto" or re.match(r"^[A-Za-z0-9._-]+:\d+$", c.address) is not None,
                 "cluster.address", f"{c.address!r} is not auto or host:port",
                 "use cluster.address=auto on a cluster node, or head-host:6379 (ray:// is not supported)")


def _has_credentials(uri: str) -> bool:
    """True when a URI carries a user name or password before its host (``scheme://user:pass@host``)."""
    authority = uri.split("://", 1)[1] if "://" in uri else uri
    return "@" in authority.split("/", 1)[0]


def _validate_tracking(tr: TrackingConfig) -> None:
    _require(bool(tr.experiment.strip()), "tracking.experiment", "is empty",
             "name the MLflow experiment, e.g. tracking.experiment=regsweep")
    _require(tr.max_outage_s > 0 and math.isfinite(tr.max_outage_s), "tracking.max_outage_s",
             f"must be > 0 seconds, got {tr.max_outage_s}", "use e.g. tracking.max_outage_s=300")
    if tr.uri is not None:
        _require(not _has_credentials(tr.uri), "tracking.uri",
                 "holds a user name or password (user:password@host): regsweep logs the URI as a param and in "
                 "the command tag, where every MLflow user can read it",
                 "drop them from the URI and set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD in the "
                 "launcher's environment")
        _require(re.match(r"^https?://[^/\s]+", tr.uri) is not None, "tracking.uri",
                 f"{tr.uri!r} is not an http(s):// server address",
                 "use e.g. tracking.uri=http://127.0.0.1:5000, or leave it unset for the local store (./mlflow.db)")
