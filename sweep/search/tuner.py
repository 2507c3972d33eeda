"""Tuner wiring: searcher, ASHA, resources, storage, failure retries, and restore."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

from sweep.config.schema import SweepConfig
from sweep.search.searcher import BASELINE_CONFIG, PruneAwareOptunaSearch, is_baseline
from sweep.search.space import RegularizationSpace, make_sampler, start_points
from trainables import names
from trainables.data.types import SYNTHETIC, Dataset
from trainables.model.source import ModelSource
from trainables.settings import TrainSettings
from trainables.trainable import tune_trainable

#: GPU share per trial when the config leaves it to us and the cluster has GPUs.
AUTO_GPU_SHARE = 0.25
#: Tune's driver settings: its result loggers are the ones ``_run_config`` names (JSON and CSV, not
#: TensorBoard's, which cost the driver milliseconds per result and which nobody reads here); its
#: SIGINT handler off, since the launcher's own (``sweep.runtime.interrupt``) must know of a Ctrl-C.
DRIVER_TUNE_ENV = {"TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1", "TUNE_DISABLE_SIGINT_HANDLER": "1"}
#: Appended to a sweep's name for the Ray experiment of its confirmation runs.
CONFIRM_SUFFIX = "-confirm"


def resolve_storage_path(cfg: SweepConfig) -> str:
    """Absolute local path or a URI (s3://, gs://, ...) for Ray's experiment state."""
    path = cfg.cluster.storage_path or "ray_results"
    if "://" in path:
        return path
    return str(Path(path).expanduser().resolve())


def resolve_gpus_per_trial(cfg: SweepConfig, cluster_gpus: float) -> float:
    """The configured share, or AUTO_GPU_SHARE when GPUs exist and the config says null."""
    if cfg.cluster.gpus_per_trial is not None:
        return float(cfg.cluster.gpus_per_trial)
    return AUTO_GPU_SHARE if cluster_gpus > 0 else 0.0


def concurrent_trials(cfg: SweepConfig, cluster_cpus: float, cluster_gpus: float, gpus_per_trial: float) -> int:
    """``search.max_concurrent_trials``, or (0) as many trials as the cluster holds at once.

    Tune asks a custom searcher for one pending trial at a time unless it is told a concurrency
    limit, so the trials of a sweep would start one by one, each waiting for the previous trial's
    worker process to come up (seconds each)."""
    if cfg.search.max_concurrent_trials:
        return int(cfg.search.max_concurrent_trials)
    fits = int(cluster_cpus // cfg.cluster.cpus_per_trial) if cfg.cluster.cpus_per_trial > 0 else 1
    if gpus_per_trial > 0:
        fits = min(fits, int(cluster_gpus / gpus_per_trial + 1e-9))
    return max(1, fits)


def objective_metrics(cfg: SweepConfig) -> list[str]:
    """The metric each of ``search.objectives`` maximizes (the sparsity objective is ``removable``)."""
    return [names.OBJECTIVE_METRICS[str(o)] for o in cfg.search.objectives]


def collapse_off_for_data(cfg: SweepConfig) -> bool:
    """True when the data's labels are random (``data=synthetic``) and the config leaves the collapse
    check to its default: every trial sits at chance there, so the check would stop them all."""
    return cfg.data.name == SYNTHETIC and cfg.train.collapse_after is None


def trial_settings(cfg: SweepConfig) -> TrainSettings:
    """Training settings with TensorFlow's threads sized to the CPUs each trial gets, and the
    collapse check at the scheduler's grace period unless the config sets it (off on throughput data)."""
    threads = cfg.train.threads or max(1, int(cfg.cluster.cpus_per_trial))
    collapse_after = cfg.train.collapse_after
    if collapse_off_for_data(cfg):
        collapse_after = 0
    elif collapse_after is None:
        collapse_after = min(cfg.scheduler.grace_period, cfg.train.epochs)
    return replace(cfg.train, threads=threads, collapse_after=collapse_after,
                   removable_tolerance=cfg.search.accuracy_tolerance,
                   removable_every_epoch=cfg.train.removable_every_epoch or len(cfg.search.objectives) > 1)


def make_trainable(cfg: SweepConfig, data: Dataset, gpus_per_trial: float, source: Optional[ModelSource] = None) -> Any:
    """The trainable with its arrays in Ray's object store, its model source and its per-trial resources."""
    from ray import tune

    with_data = tune.with_parameters(tune_trainable, data=data, settings=trial_settings(cfg), source=source)
    return tune.with_resources(with_data, {"cpu": float(cfg.cluster.cpus_per_trial), "gpu": gpus_per_trial})


def build_tuner(cfg: SweepConfig, name: str, trainable: Any, callbacks: list[Any] | None = None,
                concurrency: int = 0, prior: Optional[list[dict[str, Any]]] = None, val_examples: int = 0) -> Any:
    """A fresh Tuner for sweep ``name``: the baseline first, then Optuna's proposals (or, with
    ``search.grid``, the starting points and nothing else)."""
    from ray import tune
    from ray.tune.schedulers import FIFOScheduler

    if cfg.search.grid:
        return build_grid_tuner(cfg, name, trainable, grid_configs(cfg, prior), callbacks, name)
    points = start_points(cfg.search, prior)
    space = RegularizationSpace(cfg.search)
    metrics = objective_metrics(cfg)
    several = len(metrics) > 1
    searcher = PruneAwareOptunaSearch(
        space=space,
        metric=metrics if several else names.OBJECTIVE,
        mode=[names.OBJECTIVE_MODE] * len(metrics) if several else names.OBJECTIVE_MODE,
        sampler=make_sampler(cfg.search.seed, cfg.search.startup_trials, cfg.search.sampler),
        points_to_evaluate=points or None,
        study_name=name,
        with_baseline=cfg.search.baseline,
        searchable=space.searchable,
        epoch_budget=search_budget(cfg),
        epochs_per_trial=cfg.train.epochs,
        collapse_descent=cfg.search.collapse_descent if several else 0.0,
        patience=cfg.search.patience,
    )
    scheduler: Any = make_asha(cfg, val_examples) if cfg.scheduler.name == "asha" else FIFOScheduler()
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            metric=names.OBJECTIVE,
            mode=names.OBJECTIVE_MODE,
            search_alg=searcher,
            scheduler=scheduler,
            num_samples=cfg.search.num_samples,
            max_concurrent_trials=concurrency or cfg.search.max_concurrent_trials or None,
            reuse_actors=True,  # one TensorFlow import and one compiled model per worker process
        ),
        run_config=_run_config(cfg, name, callbacks),
    )


def search_trials(cfg: SweepConfig) -> int:
    """How many search trials the sweep runs: a grid its points (and the baseline), a search num_samples."""
    if cfg.search.grid:
        return len(start_points(cfg.search)) + int(cfg.search.baseline)
    return cfg.search.num_samples


def grid_configs(cfg: SweepConfig, prior: Optional[list[dict[str, Any]]] = None) -> list[dict[str, Any]]:
    """The grid's runs, the baseline first, as many as the search's share of the budget affords: a grid
    run trains every epoch (no early stopping), so a run that would pass the budget is not started."""
    configs = ([dict(BASELINE_CONFIG)] if cfg.search.baseline else []) + start_points(cfg.search, prior)
    share = search_budget(cfg)
    return configs[:max(1, share // cfg.train.epochs)] if share else configs


def first_round_epochs(cfg: SweepConfig) -> int:
    """What the first confirmation round trains: the baseline and ``confirm_top`` candidates at the
    plan's first look (``sweep.stats.sequential.Plan``: at least 3 fresh seeds; 0 without confirmation)."""
    from sweep.stats.sequential import Plan

    looks = Plan.from_search(cfg.search.confirm_seeds, cfg.search.confirm_max_seeds).looks
    return (1 + cfg.search.confirm_top) * (looks[0] if looks else 0) * cfg.train.epochs


def budget(cfg: SweepConfig) -> int:
    """The sweep's epoch budget (0: no cap): ``search.budget_epochs``, or by default what the search's
    trials would train without early stopping (``search_trials x train.epochs``: a grid's size, or
    ``num_samples``) plus the first
    confirmation round. So by default the search never loses a trial to the budget, and rounds past
    the first are paid from what early stopping saved."""
    if cfg.search.budget_epochs is not None:
        return int(cfg.search.budget_epochs)
    return search_trials(cfg) * cfg.train.epochs + first_round_epochs(cfg)


def search_budget(cfg: SweepConfig) -> int:
    """The search's share of the budget: all of it less the first confirmation round, which every
    answer needs (at least one trial's worth)."""
    total = budget(cfg)
    return max(cfg.train.epochs, total - first_round_epochs(cfg)) if total else 0


def make_asha(cfg: SweepConfig, val_examples: int = 0) -> Any:
    """ASHA on the objective that never stops the baseline (the control must be measured at full budget)
    and spares a trial that keeps pace with it (``sweep.search.rungs``; ``val_examples`` sets the noise
    of a validation accuracy). With two objectives
    (and ``scheduler.multi_objective``) each rung is decided by non-dominated sorting over both
    (``sweep.search.moasha``)."""
    grace = min(cfg.scheduler.grace_period, cfg.train.epochs)
    if len(cfg.search.objectives) > 1 and cfg.scheduler.multi_objective:
        from sweep.search.moasha import MultiObjectiveASHA

        return MultiObjectiveASHA(objective_metrics(cfg), max_t=cfg.train.epochs, grace_period=grace,
                                  reduction_factor=cfg.scheduler.reduction_factor, keep=is_baseline)

    from sweep.search.rungs import BaselineAwareASHA

    return BaselineAwareASHA(metric_name=names.OBJECTIVE, max_t=cfg.train.epochs, grace_period=grace,
                             reduction_factor=cfg.scheduler.reduction_factor, is_baseline=is_baseline,
                             val_examples=val_examples, spare_within_se=cfg.scheduler.spare_within_se)


def confirm_name(name: str) -> str:
    """The Ray experiment name of sweep ``name``'s confirmation runs."""
    return f"{name}{CONFIRM_SUFFIX}"


def build_grid_tuner(cfg: SweepConfig, name: str, trainable: Any, configs: list[dict[str, Any]],
                     callbacks: list[Any] | None, experiment: str) -> Any:
    """A Tuner that trains each of ``configs`` once, in order, to the full budget (no search)."""
    from ray import tune
    from ray.tune.schedulers import FIFOScheduler
    from ray.tune.search import BasicVariantGenerator

    # every key a run may set must exist in the param space; a run leaves the ones it lacks at None
    placeholders = {key: None for key in (*names.SEARCH_PARAMS, names.SEED, names.SPLIT_SEED)}
    return tune.Tuner(
        trainable,
        param_space=placeholders,
        tune_config=tune.TuneConfig(
            metric=names.OBJECTIVE,
            mode=names.OBJECTIVE_MODE,
            search_alg=BasicVariantGenerator(points_to_evaluate=[dict(c) for c in configs]),
            scheduler=FIFOScheduler(),
            num_samples=len(configs),
            max_concurrent_trials=cfg.search.max_concurrent_trials or None,
            reuse_actors=True,
        ),
        run_config=_run_config(cfg, experiment, callbacks),
    )


def restore_tuner(cfg: SweepConfig, name: str, trainable: Any) -> Any:
    """The Tuner of an interrupted sweep (or its confirmation runs), continuing its searcher state
    and unfinished trials. Its callbacks come back from the experiment (``sweep.tracking.tune_callback``)."""
    from ray import tune

    return tune.Tuner.restore(
        experiment_path(cfg, name),
        trainable=trainable,
        resume_unfinished=True,
        resume_errored=True,
        restart_errored=False,
    )


def experiment_path(cfg: SweepConfig, name: str) -> str:
    """Where Ray keeps sweep ``name``'s state."""
    return os.path.join(resolve_storage_path(cfg), name)


def _run_config(cfg: SweepConfig, name: str, callbacks: list[Any] | None = None) -> Any:
    from ray import tune
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    from sweep.runtime.trial_memory import ReleaseEndedTrials

    return tune.RunConfig(
        name=name,
        # a new list per tuner: Ray appends its reporter to the list it gets
        callbacks=[*(callbacks or []), JsonLoggerCallback(), CSVLoggerCallback(), ReleaseEndedTrials()],
        storage_path=resolve_storage_path(cfg),
        failure_config=tune.FailureConfig(max_failures=cfg.cluster.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        verbose=1 if cfg.console.verbose else 0,  # Ray's status tables only with --verbose (sweep.runtime.console)
    )
