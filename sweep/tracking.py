"""Driver-side MLflow: the embedded local server, the preflight, and the sweep's parent run.

With no ``tracking.uri`` the driver starts a private ``mlflow server`` on a free loopback port,
backed by ``./mlflow.db`` (SQLite) and ``./mlartifacts``: one server process serializes the writes
of every concurrent trial, so there are no "database is locked" errors, and afterwards a plain
``mlflow ui`` in the same directory shows the results (those are its defaults).
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

from sweep.config import SweepConfig
from trainables import names
from trainables.data import Dataset
from trainables.errors import ConfigError, UserError
from trainables.tracking import TrackingInfo, create_trial_run, epoch_batch, find_trial_run, run_status

EMBEDDED_DB = "mlflow.db"
EMBEDDED_ARTIFACTS = "mlartifacts"
SERVER_START_TIMEOUT_S = 120


class EmbeddedServer:
    """A private ``mlflow server`` on 127.0.0.1 for the duration of one sweep."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir.resolve()
        self.proc: Optional[subprocess.Popen] = None
        self.uri = ""

    def start(self) -> str:
        """Start the server and wait until it answers; return its URI."""
        port = _free_port()
        self.uri = f"http://127.0.0.1:{port}"
        log_path = self.workdir / "outputs" / ".mlflow-server.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
               "--backend-store-uri", f"sqlite:///{self.workdir / EMBEDDED_DB}",
               "--artifacts-destination", str(self.workdir / EMBEDDED_ARTIFACTS), "--workers", "1"]
        from filelock import FileLock

        # Two sweeps starting at once in one directory would both run the store's schema
        # migrations on mlflow.db; the lock lets the second server start on a migrated store.
        with FileLock(str(log_path.parent / ".mlflow-server.lock")):
            with open(log_path, "ab") as log:
                self.proc = subprocess.Popen(cmd, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
                                             start_new_session=True, preexec_fn=_die_with_parent)
            self._wait_healthy(log_path)
        return self.uri

    def _wait_healthy(self, log_path: Path) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
                raise UserError(f"the embedded MLflow server exited at start ({tail[0]})",
                                f"see {log_path}, or set tracking.uri to a running server")
            if _health(self.uri, timeout=2.0) is None:
                return
            time.sleep(0.5)
        self.stop()
        raise UserError(f"the embedded MLflow server did not answer within {SERVER_START_TIMEOUT_S}s",
                        f"see {log_path}, or set tracking.uri to a running server")

    def stop(self) -> None:
        """Stop the server (its process group) and wait for it."""
        if self.proc is None or self.proc.poll() is not None:
            return
        import signal

        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _die_with_parent() -> None:
    """In the server's child process: get SIGTERM when the driver dies, even by SIGKILL, so a
    killed sweep leaves no orphaned server behind (Linux prctl; elsewhere a no-op)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except OSError:
        pass


def preflight(uri: str, timeout: float = 10.0) -> None:
    """Fail fast, with one line, when the tracking server does not answer."""
    problem = _health(uri, timeout)
    if problem is not None:
        raise UserError(f"the MLflow tracking server at tracking.uri={uri} does not answer ({problem})",
                        "start it (e.g. mlflow server --host 127.0.0.1 --port 5000) or fix tracking.uri; "
                        "leave tracking.uri unset for the embedded local store")


def open_parent_run(uri: str, cfg: SweepConfig, name: str, data: Dataset) -> TrackingInfo:
    """Create the sweep's parent run, or reopen it when resuming; return what trials need."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment_id = _experiment_id(client, cfg.tracking.experiment)
    existing = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{names.TAG_SWEEP}` = '{name}' and tags.`{names.TAG_ROLE}` = '{names.ROLE_PARENT}'",
        max_results=1,
    )
    command = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "sweep.launch", *sys.argv[1:]])
    if existing:
        if not cfg.resume:
            raise ConfigError("name", f"MLflow experiment {cfg.tracking.experiment!r} already has a sweep "
                              f"named {name!r}", "add resume=true to continue it, or pick another name")
        run_id = existing[0].info.run_id
        client.update_run(run_id, status="RUNNING")
        client.set_tag(run_id, names.TAG_COMMAND, command)
    else:
        run = client.create_run(experiment_id, run_name=name, tags={
            names.TAG_SWEEP: name, names.TAG_ROLE: names.ROLE_PARENT, names.TAG_COMMAND: command,
            **({names.TAG_GIT_COMMIT: commit} if (commit := _git_commit()) else {}),
        })
        run_id = run.info.run_id
        _log_config(client, run_id, cfg, data)
    return TrackingInfo(uri=uri, experiment_id=experiment_id, parent_run_id=run_id, sweep=name,
                        max_outage_s=cfg.tracking.max_outage_s)


def _experiment_id(client: Any, experiment: str) -> str:
    """The experiment's id, creating it; a sweep that starts at the same moment may create it first."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(experiment)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(experiment, tags={
            names.TAG_EXPERIMENT_KIND: names.EXPERIMENT_KIND_TRAINING}))
    except MlflowException as exc:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            raise
        return str(found.experiment_id)


def backfill_trial_metrics(info: TrackingInfo, histories: Mapping[str, Sequence[Mapping[str, float]]]) -> int:
    """Log every epoch that Ray recorded but the trial's child run lacks; return how many.

    Ray's own result records are the reference: a trial killed after reporting an epoch but before
    its background sender delivered it, or stopped by ASHA with a send still queued, loses nothing.
    A trial whose child run was never created (the server was away for its whole life) gets one.
    """
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=info.uri)
    filled = 0
    for trial_id, rows in histories.items():
        run = find_trial_run(client, info, trial_id)
        if run is None:
            run = create_trial_run(client, info, trial_id, f"trial_{trial_id}")
        logged = {int(m.step) for m in client.get_metric_history(run.info.run_id, names.EPOCH)}
        for row in rows:
            epoch = int(row[names.EPOCH])
            if epoch in logged:
                continue
            client.log_batch(run.info.run_id, metrics=epoch_batch(row, epoch))
            logged.add(epoch)
            filled += 1
    return filled


def finish_parent_run(info: TrackingInfo, files: Iterable[Path], best: Optional[Mapping[str, Any]],
                      best_metrics: Mapping[str, float], status: str = "FINISHED",
                      verdict: Optional[str] = None) -> None:
    """Attach the summary artifacts, best config and verdict to the parent run and end it."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=info.uri)
    for path in files:
        client.log_artifact(info.parent_run_id, str(path), artifact_path="summary")
    if best is not None:
        client.set_tag(info.parent_run_id, names.TAG_BEST_CONFIG, json.dumps(best))
    if verdict:
        # ASCII: a Postgres store with SQL_ASCII encoding answers 500 to λ and ±; verdict.md keeps them
        ascii_verdict = verdict.replace("λ", "lambda").replace("±", "+/-").replace("≥", ">=")
        client.set_tag(info.parent_run_id, names.TAG_VERDICT, ascii_verdict.encode("ascii", "replace").decode())
    now = int(time.time() * 1000)
    metrics = [Metric(f"best_{k}", float(v), now, 0) for k, v in best_metrics.items() if v == v]
    if metrics:
        client.log_batch(info.parent_run_id, metrics=metrics)
    client.set_terminated(info.parent_run_id, status=status)


def close_trial_runs(info: TrackingInfo, states: Mapping[str, str]) -> int:
    """Give every child run still marked running its end state (ASHA stops and errors end here)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=info.uri)
    closed = 0
    for trial_id, state in states.items():
        run = find_trial_run(client, info, trial_id)
        if run is None or run.data.tags.get(names.TAG_STATE) not in (None, names.STATE_RUNNING):
            continue
        client.set_tag(run.info.run_id, names.TAG_STATE, state)
        client.set_terminated(run.info.run_id, status="KILLED" if state == names.STATE_STOPPED
                              else run_status(state))
        closed += 1
    return closed


def _log_config(client: Any, run_id: str, cfg: SweepConfig, data: Dataset) -> None:
    from mlflow.entities import Param
    from omegaconf import OmegaConf

    tree = OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)
    assert isinstance(tree, dict)
    params = {k: v for k, v in _flatten(tree).items() if k not in ("resume", "name")}
    params.update({"dataset": data.name, "dataset.n_classes": data.n_classes,
                   **{f"dataset.{k}_size": v for k, v in data.sizes().items()}})
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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
