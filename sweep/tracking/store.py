"""Driver-side MLflow: the local default store, the preflight, and the sweep's parent run.

With no ``tracking.uri`` the sweep writes to ``sqlite:///mlflow.db`` in the working directory, with
artifacts in ``./mlartifacts``: the driver is MLflow's only writer (``sweep.tracking.trial_runs``), so no
server process is needed, and a plain ``mlflow ui`` in the same directory shows the results (it reads
``mlflow.db`` by default). Child runs are written by ``sweep.tracking.trial_runs``; this module owns the parent.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Optional

from sweep.config.schema import SweepConfig
from sweep.common.quiet import quiet_logger
from sweep.common.say import say
from sweep.tracking import lease
from sweep.tracking.retry import call_with_retry
from sweep.tracking.records import TrackingInfo
from trainables import names
from trainables.data.types import Dataset
from trainables.errors import ConfigError, UserError

LOCAL_DB = "mlflow.db"
LOCAL_ARTIFACTS = "mlartifacts"


def local_store_uri(workdir: Path) -> str:
    """The default store: ``<workdir>/mlflow.db``, where ``mlflow ui`` looks when started there."""
    return f"sqlite:///{workdir.resolve() / LOCAL_DB}"


def is_local_store(uri: str) -> bool:
    return uri.startswith("sqlite:")


def _db_path(uri: str) -> Path:
    """The database file of a local SQLite store URI."""
    return Path(uri.removeprefix("sqlite:///"))


@contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """For the local SQLite store: one sweep at a time creates or migrates ``mlflow.db`` (two
    sweeps started at once in one directory would both run the schema migrations)."""
    if not is_local_store(uri):
        yield
        return
    from filelock import FileLock

    with FileLock(f"{_db_path(uri)}.lock"):
        if not _db_path(uri).exists():
            seed_local_store(_db_path(uri))
        yield


def prepare_store() -> None:
    """What opening the parent run needs and can do before Ray is up without writing anything:
    MLflow's imports (seconds; the launcher runs this beside ``ray.init``). A new local store's
    database is made under ``store_lock`` when the parent run opens, so a launch that Ray refuses
    leaves no ``mlflow.db`` behind."""
    from mlflow.tracking import MlflowClient  # noqa: F401  (seconds of imports)


def seed_local_store(db: Path) -> None:
    """Start a new local store from an empty, fully migrated copy: MLflow's schema migrations take
    seconds on every new ``mlflow.db``, a file copy takes milliseconds. The copy is in SQLite's WAL
    journal mode, so each of the writer's commits costs less. The copy is made once per
    MLflow version, in the user's cache (``$XDG_CACHE_HOME/regsweep``), under a lock."""
    import contextlib
    import shutil
    import sqlite3

    import mlflow
    from filelock import FileLock

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "regsweep"
    template = cache / f"mlflow-{mlflow.__version__}-empty-wal.db"
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with FileLock(f"{template}.lock"):
            if not template.exists():
                partial = template.with_suffix(".partial")
                partial.unlink(missing_ok=True)
                from mlflow.tracking import MlflowClient

                # its INFO lines ("Creating initial MLflow database tables...", "Updating database
                # tables") opened the first sweep's console on a new machine
                with quiet_logger("mlflow.store.db.utils", logging.WARNING):
                    MlflowClient(tracking_uri=f"sqlite:///{partial}").search_experiments()  # creates and migrates
                with contextlib.closing(sqlite3.connect(partial)) as db_conn:
                    db_conn.execute("PRAGMA journal_mode=WAL")  # kept in the file: commits cost ~40% less
                partial.replace(template)
        shutil.copyfile(template, db)
    except OSError:  # no writable cache: MLflow migrates the new store itself
        db.unlink(missing_ok=True)


def preflight(uri: str, experiment: str, timeout: float = 10.0) -> None:
    """Fail fast, with one line, when the tracking server does not answer, refuses the credentials,
    or holds the sweep's experiment deleted: before any data, Ray or trial starts."""
    problem = _health(uri, timeout)
    if problem is not None:
        raise UserError(f"the MLflow tracking server at tracking.uri={uri} does not answer ({problem})",
                        "start it (e.g. mlflow server --host 127.0.0.1 --port 5000) or fix tracking.uri; "
                        "leave tracking.uri unset for the local store (./mlflow.db)")
    _check_experiment(uri, experiment, timeout)


def _check_experiment(uri: str, experiment: str, timeout: float) -> None:
    """One authenticated read of the experiment, as the sweep's own calls will make it (``/health``
    needs no credentials): wrong credentials, no permission, a deleted experiment or a failing server
    are each one line here rather than a traceback after Ray has started."""
    from urllib.parse import urlencode

    url = f"{uri.rstrip('/')}/api/2.0/mlflow/experiments/get-by-name?{urlencode({'experiment_name': experiment})}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=_auth_headers()), timeout=timeout) as resp:
            found = json.load(resp).get("experiment", {})
    except urllib.error.HTTPError as exc:
        if exc.code == 404:  # not there yet: the sweep creates it
            return
        if exc.code == 401:
            raise UserError(f"the MLflow server at {uri} refused the credentials (HTTP 401)",
                            "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) "
                            "to a user of that server") from None
        if exc.code == 403:
            raise UserError(f"the MLflow user has no permission on experiment {experiment!r} at {uri} (HTTP 403)",
                            "ask the server's admin for EDIT on it, or set tracking.experiment to one you may "
                            "write") from None
        raise UserError(f"the MLflow server at {uri} failed reading experiment {experiment!r} (HTTP {exc.code})",
                        "check the server's log and retry once it answers") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise UserError(f"the MLflow server at {uri} stopped answering "
                        f"({getattr(exc, 'reason', exc) or type(exc).__name__})", "check the server and retry") from None
    if found.get("lifecycle_stage") == "deleted":
        raise UserError(f"MLflow experiment {experiment!r} (id {found.get('experiment_id')}) is deleted at {uri}",
                        f"restore it (mlflow experiments restore --experiment-id {found.get('experiment_id')}) "
                        "or set tracking.experiment to another name")


def _auth_headers() -> dict[str, str]:
    """The credentials MLflow's own client sends, from the same environment variables."""
    import base64

    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def open_parent_run(uri: str, cfg: SweepConfig, name: str, data: Dataset,
                    extra: Optional[Mapping[str, Any]] = None, holder: str = "") -> TrackingInfo:
    """Create the sweep's parent run, or reopen it when resuming; return what trials need.
    ``extra``: more params for a new parent run (what the model check found). ``holder``: this
    launcher's lease name; a resume is refused, before the parent run is touched, while another
    launcher's lease on it holds (``sweep.tracking.lease``)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment_id = _experiment_id(client, cfg.tracking.experiment, _artifact_location(uri, cfg.tracking.experiment))
    existing = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{names.TAG_SWEEP}` = '{name}' and tags.`{names.TAG_ROLE}` = '{names.ROLE_PARENT}'",
        max_results=1,
    )
    command = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "sweep.launch", *sys.argv[1:]])
    if existing and not cfg.resume and _stranded(client, experiment_id, existing[0]):
        client.delete_run(existing[0].info.run_id)
        say(f"mlflow: parent run {existing[0].info.run_id} of an earlier launch of {name!r} ended before any trial "
            "started (no Ray state, no child run): moved to MLflow's deleted view, starting afresh")
        existing = []
    if cfg.resume and not existing:
        raise ConfigError("tracking", f"sweep {name!r} has no parent run in MLflow experiment "
                          f"{cfg.tracking.experiment!r} at {uri}: it was started against another store or experiment",
                          "resume with the tracking.uri and tracking.experiment it started with")
    if existing:
        if not cfg.resume:
            raise ConfigError("name", f"MLflow experiment {cfg.tracking.experiment!r} already has a sweep "
                              f"named {name!r}", "add resume=true to continue it, or pick another name")
        run_id = existing[0].info.run_id
        lease.check_free(client, run_id, name, holder)
        client.update_run(run_id, status=names.RUN_RUNNING)
        client.set_tag(run_id, names.TAG_COMMAND, command)
    else:
        run = client.create_run(experiment_id, run_name=name, tags={
            names.TAG_SWEEP: name, names.TAG_ROLE: names.ROLE_PARENT, names.TAG_COMMAND: command,
            **({names.TAG_GIT_COMMIT: commit} if (commit := _git_commit()) else {}),
        })
        run_id = run.info.run_id
        _log_config(client, run_id, cfg, data, extra or {})
    return TrackingInfo(uri=uri, experiment_id=experiment_id, parent_run_id=run_id, sweep=name,
                        max_outage_s=cfg.tracking.max_outage_s)


def _stranded(client: Any, experiment_id: str, parent: Any) -> bool:
    """A parent run that a launch made and then ended (KILLED or FAILED) before any trial started: it
    has no child run. The launcher checked, under the sweep's lock, that Ray holds no state for the
    name. A RUNNING parent may belong to a launch still starting elsewhere, so it is never taken."""
    if parent.info.status not in (names.RUN_KILLED, names.RUN_FAILED):
        return False
    children = client.search_runs([experiment_id], filter_string=f"tags.`{names.TAG_PARENT_RUN}` = "
                                  f"'{parent.info.run_id}'", max_results=1)
    return not children


def _artifact_location(uri: str, experiment: str) -> Optional[str]:
    """For the local store, ``./mlartifacts/<experiment>`` beside ``mlflow.db``; a server decides its own."""
    if not is_local_store(uri):
        return None
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in experiment)
    return (_db_path(uri).parent / LOCAL_ARTIFACTS / safe).as_uri()


def _experiment_id(client: Any, experiment: str, artifact_location: Optional[str] = None) -> str:
    """The experiment's id, creating it; a sweep that starts at the same moment may create it first."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(experiment)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(experiment, artifact_location=artifact_location, tags={
            names.TAG_EXPERIMENT_KIND: names.EXPERIMENT_KIND_TRAINING}))
    except MlflowException:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            raise
        return str(found.experiment_id)


def finish_parent_run(info: TrackingInfo, files: Iterable[Path], best: Optional[Mapping[str, Any]],
                      best_metrics: Mapping[str, float], status: str = names.RUN_FINISHED,
                      verdict: Optional[str] = None, tables: Optional[Mapping[str, Any]] = None) -> None:
    """Attach the summary artifacts, best config and verdict to the parent run and end it; each call
    rides out a short outage like every other MLflow write. ``tables``: artifact file -> DataFrame,
    logged with ``log_table`` so the UI's artifact view shows them as sortable tables."""
    from mlflow.entities import Metric, RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=info.uri)

    def call(fn: Any, what: str) -> None:
        call_with_retry(fn, what, info.max_outage_s)

    for path in files:
        call(lambda: client.log_artifact(info.parent_run_id, str(path), artifact_path="summary"),
             f"logging {path.name} on the parent run")
    for artifact, frame in (tables or {}).items():
        call(lambda: client.log_table(info.parent_run_id, data=_json_safe(frame), artifact_file=artifact),
             f"logging {artifact} on the parent run")
    tags = [RunTag(names.TAG_BEST_CONFIG, json.dumps(best))] if best is not None else []
    if verdict:
        # ASCII: a Postgres store with SQL_ASCII encoding answers 500 to λ and ±; verdict.md keeps them
        ascii_verdict = verdict.replace("λ", "lambda").replace("±", "+/-").replace("≥", ">=")
        tags.append(RunTag(names.TAG_VERDICT, ascii_verdict.encode("ascii", "replace").decode()))
    now = int(time.time() * 1000)
    metrics = [Metric(f"best_{k}", float(v), now, 0) for k, v in best_metrics.items() if v == v]
    if metrics or tags:
        call(lambda: client.log_batch(info.parent_run_id, metrics=metrics, tags=tags),
             "logging the summary on the parent run")
    call(lambda: client.set_terminated(info.parent_run_id, status=status), "ending the parent run")


def _json_safe(frame: Any) -> Any:
    """A table ``log_table`` can write: NaN as empty (JSON has no NaN), every column name a string."""
    out = frame.copy()
    out.columns = [str(c) for c in out.columns]
    return out.astype(object).where(out.notna(), None)


def tag_child_runs(info: TrackingInfo, values: Mapping[str, str], tag: str, default: str) -> None:
    """Set ``tag`` on the sweep's child runs: ``values[trial id]``, or ``default`` for the others."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=info.uri)
    runs = call_with_retry(lambda: client.search_runs(
        [info.experiment_id], filter_string=f"tags.`{names.TAG_PARENT_RUN}` = '{info.parent_run_id}'",
        max_results=5000), "listing the child runs", info.max_outage_s)
    for run in runs:
        value = values.get(str(run.data.tags.get(names.TAG_TRIAL_ID)), default)
        call_with_retry(lambda r=run, v=value: client.set_tag(r.info.run_id, tag, v), f"tagging {tag}",
                        info.max_outage_s)


def end_parent_quietly(info: TrackingInfo, status: str) -> None:
    """End the parent run with ``status`` if the store answers at once (it may be what failed);
    otherwise it stays open, and resume=true reopens it either way."""
    try:
        from mlflow.tracking import MlflowClient

        MlflowClient(tracking_uri=info.uri).set_terminated(info.parent_run_id, status=status)
    except Exception:
        pass


def _log_config(client: Any, run_id: str, cfg: SweepConfig, data: Dataset, extra: Mapping[str, Any]) -> None:
    from mlflow.entities import Param
    from omegaconf import OmegaConf

    tree = OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)
    assert isinstance(tree, dict)
    params = {k: v for k, v in _flatten(tree).items() if k not in ("resume", "name")}
    params.update({"dataset": data.name, "dataset.n_classes": data.n_classes,
                   **{f"dataset.{k}_size": v for k, v in data.sizes().items()}, **extra})
    items = [Param(k, str(v)[:6000]) for k, v in params.items()]
    for start in range(0, len(items), 100):
        client.log_batch(run_id, params=items[start:start + 100])
    client.log_text(run_id, OmegaConf.to_yaml(OmegaConf.structured(cfg)), "config.yaml")


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        full = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{full}."))
        else:
            out[full] = json.dumps(value) if isinstance(value, (list, dict)) else value
    return out


def _git_commit() -> Optional[str]:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _health(uri: str, timeout: float) -> Optional[str]:
    """None when ``<uri>/health`` answers 200, else the reason."""
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout) as resp:
            return None if resp.status == 200 else f"HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return str(reason) or type(exc).__name__
