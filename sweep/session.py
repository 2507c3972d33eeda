"""One sweep's session: the lock on its name, the new-or-resume checks, and its checked inputs.

Everything the user can get wrong is found here, before any server, Ray or trial starts: a name in
use, a resume that would mix meanings, an unreachable server, data or a model that do not fit.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

from sweep.fingerprint import KEPT_BY_RAY, first_difference, started_with_old_l1_ratio
from sweep.config.schema import SweepConfig
from sweep.runtime import cluster
from sweep.common.say import say
from sweep.runtime.console import go_quiet
from sweep.search import tuner
from sweep.search.priors import DataProfile, profile_inputs
from sweep.tracking import store as tracking
from sweep.tracking.retry import DRIVER_MLFLOW_ENV
from trainables import names
from trainables.choices import Prior
from trainables.data.load import load_dataset
from trainables.data.types import Dataset
from trainables.errors import ConfigError
from trainables.model.check import ModelReport, check_model
from trainables.model.source import SEED_CNN, ModelSource
from trainables.trainable import default_source, layers_param
from trainables.user_code import module_path

#: Under <output_dir>/<name>: the search space and settings the sweep started with (resume compares).
SPACE_FILE = "search_space.json"
#: Under <output_dir>/<name>: the driver's TensorFlow start-up lines in the compact console mode.
LOG_DIR = "logs"


@dataclass
class Inputs:
    """What a sweep trains on, checked: the data, the model that fits it, and the data's profile."""

    data: Dataset
    model: ModelReport
    profile: DataProfile
    uri: str
    """The MLflow tracking URI (the local store unless ``tracking.uri`` names a server)."""
    data_ready: float
    """``time.time()`` when the data was loaded."""


@contextmanager
def sweep_lock(cfg: SweepConfig, name: str, out_dir: Path) -> Iterator[None]:
    """Hold the sweep's locks for its whole run: ``.<storage folder>-<name>.lock`` beside Ray's state (so two
    launches that share ``cluster.storage_path``, even with different ``output_dir`` or on different
    hosts of a shared folder, exclude each other), and ``<output_dir>/.<name>.lock`` beside its results.
    A second launch of the same sweep (a resume while the first still runs, or a twin started at the
    same moment) is refused rather than sharing Ray state and MLflow runs. The OS drops a lock when the
    process dies. A storage URI (s3://, gs://) cannot hold a lock: there, only the output lock holds."""
    from contextlib import ExitStack

    storage = tuner.resolve_storage_path(cfg)
    locks = [out_dir.parent / f".{name}.lock"]
    if "://" not in storage or storage.startswith("file://"):  # beside the storage folder: nothing made in it
        root = Path(storage.removeprefix("file://"))
        locks.insert(0, root.parent / f".{root.name}-{name}.lock")
    with ExitStack() as held:
        for path in dict.fromkeys(locks):
            held.enter_context(_lock(path, name))
        yield


@contextmanager
def _lock(path: Path, name: str) -> Iterator[None]:
    from filelock import FileLock, Timeout

    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise ConfigError("name", f"sweep {name!r} is running in another process right now "
                          f"(lock {lock.lock_file})", "wait for it to end, or pick another name") from None
    try:
        yield
    finally:
        lock.release()


def check_start(cfg: SweepConfig, name: str, out_dir: Path, space: dict[str, Any]) -> None:
    """A new sweep must not reuse a name; a resume must find its sweep, started with the same
    results-shaping settings (checked under the lock: a twin may have just created the sweep)."""
    if cfg.resume:
        _check_resumable(cfg, name, out_dir, space)
    else:
        _check_new(cfg, name)


#: MLflow prints two links per ended run, and asks the server for the run's name to do so.
QUIET_MLFLOW_ENV = {"MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}


def set_driver_env() -> None:
    """The driver's environment for MLflow (one retry policy, no links per run: the summary says how
    to look) and for Ray Tune; a key the user has set stays as it is."""
    for key, value in {**DRIVER_MLFLOW_ENV, **QUIET_MLFLOW_ENV, **tuner.DRIVER_TUNE_ENV}.items():
        os.environ.setdefault(key, value)


def prepare_inputs(cfg: SweepConfig, out_dir: Path) -> Inputs:
    """Reach the servers, load the data once, check the model against it and profile it; say each in
    one line. Then set the driver's environment for Ray and MLflow."""
    if cfg.tracking.uri:
        tracking.preflight(cfg.tracking.uri, cfg.tracking.experiment)
    cluster.preflight(cfg.cluster)
    data = load_dataset(cfg.data)
    data_ready = time.time()
    say(f"data {data.name}: " + ", ".join(f"{k} {v}" for k, v in data.sizes().items())
        + f", {data.n_classes} classes" + (f", examples of shape {tuple(data.x_train.shape[1:])}"
                                            if not data.pixels else ""))
    if tuner.collapse_off_for_data(cfg):
        say(f"data {data.name} has random labels, so every trial sits at chance: collapse detection is off "
            "(train.collapse_after=0)")
    if not cfg.console.verbose:
        go_quiet(str(out_dir / LOG_DIR))
    set_driver_env()
    model = check_model(model_source(cfg, data), data, cfg.train.seed)
    say(model.line())
    profile = profile_inputs(data.x_train, cfg.data.seed)
    say(profile.line() + (" (search.prior=auto: tried first)" if cfg.search.prior == Prior.auto else ""))
    uri = cfg.tracking.uri or tracking.local_store_uri(Path.cwd())
    return Inputs(data=data, model=model, profile=profile, uri=uri, data_ready=data_ready)


def model_source(cfg: SweepConfig, data: Dataset) -> ModelSource:
    """The sweep's model, shaped for its data."""
    return replace(default_source(data, cfg.train), target=cfg.model, include=tuple(cfg.regularize.include),
                   exclude=tuple(cfg.regularize.exclude))


def model_params(model: ModelReport) -> dict[str, Any]:
    """The parent run's params about the model: which layers take the regularizer, and how it trains."""
    table = model.source.table or {}
    return {names.REGULARIZED_LAYERS: layers_param(list(table)), "model.layers": model.layers,
            "model.optimizer": model.optimizer, "model.loss": model.loss, "model.compiled_by": model.compiled_by}


def user_modules(cfg: SweepConfig) -> list[Path]:
    """The user's model module (file or top-level package) that a cluster's workers must import."""
    if cfg.model == SEED_CNN:
        return []
    path = module_path(cfg.model)
    return [path] if path is not None else []


def _check_new(cfg: SweepConfig, name: str) -> None:
    from ray import tune

    if cfg.name and tune.Tuner.can_restore(tuner.experiment_path(cfg, name)):
        raise ConfigError("name", f"a sweep named {name!r} already exists in {tuner.resolve_storage_path(cfg)}",
                          "add resume=true to continue it, or pick another name")


def _check_resumable(cfg: SweepConfig, name: str, out_dir: Path, space: dict[str, Any]) -> None:
    from ray import tune

    if not tune.Tuner.can_restore(tuner.experiment_path(cfg, name)):
        raise ConfigError("resume", f"no sweep named {name!r} to resume in {tuner.resolve_storage_path(cfg)}",
                          "check name= and cluster.storage_path=, or drop resume=true to start a new sweep")
    check_state_is_private(tuner.experiment_path(cfg, name))
    saved_file = out_dir / SPACE_FILE
    if not saved_file.exists():
        return
    saved = json.loads(saved_file.read_text())
    if started_with_old_l1_ratio(saved):
        raise ConfigError("search.l1_ratio", f"sweep {name!r} was started when l1_ratio meant the L2 share "
                          "(1 = pure L2); it now follows scikit-learn (1 = pure L1)",
                          "start a new sweep under another name; resuming would mix two meanings")
    key = first_difference(saved, space)
    if key in KEPT_BY_RAY:
        raise ConfigError(key, f"cannot change when sweep {name!r} resumes ({saved.get(key)!r} then, "
                          f"{space.get(key)!r} now): Ray's restored Tuner keeps the value the sweep started with",
                          f"resume with {key}={saved.get(key)}, or start a new sweep under another name")
    if key is not None:
        raise ConfigError(key, f"differs from the value sweep {name!r} started with "
                          f"({saved.get(key)!r} then, {space.get(key)!r} now), and it changes results",
                          f"resume with the original {key}, or start a new sweep under another name")


def check_state_is_private(experiment: str) -> None:
    """Ray unpickles a resumed sweep's state (``tuner.pkl``, the searcher's state), and unpickling runs
    code: refuse, in one line, when another user owns it or anyone may write it. On a local or mounted
    path only (a storage URI's access is the bucket's)."""
    import stat

    if "://" in experiment and not experiment.startswith("file://"):
        return
    root = Path(experiment.removeprefix("file://"))
    for path in [root, *sorted(p for p in root.iterdir() if p.is_file())]:
        info = path.stat()
        if info.st_uid != os.getuid() or info.st_mode & stat.S_IWOTH:
            who = "is owned by another user" if info.st_uid != os.getuid() else "is writable by every user"
            raise ConfigError("cluster.storage_path", f"{path} {who} (mode {stat.filemode(info.st_mode)}), and "
                              "resuming unpickles the sweep's state from it, which runs code",
                              f"check it was not changed by someone else, then chmod o-w (or chown) {path}")


#: The process umask while a sweep runs: what it creates is its user's alone (files 0600, folders 0700).
PRIVATE_UMASK = 0o077


@contextmanager
def private_files() -> Iterator[None]:
    """Whatever the launcher makes while the sweep runs is its user's alone: outputs, pending records,
    the lock, the local MLflow store and, through the local Ray processes that inherit the umask, Ray's
    experiment state. Those hold results, credentials in memory dumps and pickles that resume reads,
    so another user must neither read nor change them. The old umask comes back on exit (the launcher
    may run inside another program, such as a test)."""
    old = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(old)
