"""The driver's one MLflow writer: every trial's child run, its epochs, its end state and its model.

Trials never talk to MLflow. Ray's result stream already brings every epoch to the driver, where
``TrialRunLogger`` (a ``tune.Callback``) turns Tune's events into records on an ordered queue, and
one thread (``TrialRunWriter``) delivers them through the one retry policy of ``sweep.tracking.retry``:

- **Outage.** Trials keep training while the server is away; their records wait on the driver, in
  order. An outage longer than ``tracking.max_outage_s`` is said once, with the fix; the records are
  still delivered when the server is back. At the end of the sweep the driver waits for the queue to
  empty while the server takes records, however slowly (a model upload is not an outage), and gives
  up once the server has failed for ``tracking.max_outage_s`` in a row.
- **No duplicate steps.** The first time the writer touches a child run in a driver process, it reads
  the epochs the run already holds and skips them: a trial Ray retries from its checkpoint, or a
  sweep resumed after the driver was killed, re-reports epochs without logging them twice.
- **Resume.** Records not yet delivered are part of the callback's state, which Ray saves with the
  experiment and gives back on ``Tuner.restore``; a driver that gives up on the server at the end of
  the sweep also keeps them in ``<output_dir>/<name>/.mlflow-pending.pkl``, and resume sends them.
- **Attempts.** Each start of a trial (the first, a Ray retry, a restore) is one attempt. A trial
  whose child run had already ended before the driver died is not counted again, and its re-reported
  results are ignored.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from sweep.tracking.retry import TrackingOutage, call_with_retry, is_transient
from sweep.search.states import end_state, run_status
from trainables import names

#: How a record is shown in the outage messages.
_WHAT = {"start": "opening the child run of trial {trial}", "epoch": "logging epoch {epoch} of trial {trial}",
         "end": "ending the child run of trial {trial}"}


@dataclass(frozen=True)
class TrackingInfo:
    """Where the sweep's runs live."""

    uri: str
    experiment_id: str
    parent_run_id: str
    sweep: str
    max_outage_s: float = 300.0


@dataclass
class Record:
    """One write for one trial's child run, in the order Tune saw it (picklable: Ray keeps the
    undelivered ones with the experiment state)."""

    kind: str
    """start | epoch | end"""
    trial: str
    run_name: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    epoch: int = 0
    metrics: list[tuple[str, float, int]] = field(default_factory=list)
    """(key, value, timestamp ms): stamped once, so a resend is identical."""
    node_id: str = ""
    state: str = ""
    checkpoint: Any = None
    """The trial's final ``tune.Checkpoint`` when it completed (its model is logged from it)."""
    attempt: Optional[int] = None
    """Fixed the first time a start is tried, so a retried start never counts twice."""
    key: str = ""
    """A start's own id, tagged on the run it creates, set before the first try: when the server made
    the run but its answer was lost, the retry finds that run by it instead of making a second."""

    @property
    def what(self) -> str:
        return _WHAT[self.kind].format(trial=self.trial, epoch=self.epoch)


def _identity(record: Record) -> tuple[str, str, int]:
    """What makes a record the same write: its kind, its trial and (for an epoch) its epoch."""
    return record.kind, record.trial, record.epoch


def record_to_json(record: Record) -> dict[str, Any]:
    """A record as plain data; its checkpoint (a ``tune.Checkpoint``) as the URI it lives at."""
    data = {k: v for k, v in vars(record).items() if k != "checkpoint"}
    ckpt = record.checkpoint
    if ckpt is not None:
        kind = getattr(getattr(ckpt, "filesystem", None), "type_name", "local")
        data["checkpoint"] = ckpt.path if kind == "local" else f"{kind}://{ckpt.path}"
    return data


def record_from_json(data: Mapping[str, Any]) -> Record:
    """The inverse of ``record_to_json``."""
    fields = dict(data)
    uri = fields.pop("checkpoint", None)
    fields["metrics"] = [tuple(m) for m in fields.get("metrics", [])]
    checkpoint = None
    if uri:
        from ray import tune

        checkpoint = tune.Checkpoint(uri)
    return Record(**fields, checkpoint=checkpoint)


def start_record(trial_id: str, run_name: str, params: Mapping[str, Any]) -> Record:
    return Record("start", trial_id, run_name=run_name, params=dict(params))


def epoch_record(trial_id: str, result: Mapping[str, Any]) -> Optional[Record]:
    """The child-run metrics of one Tune result, or None for a result that is not an epoch."""
    if result.get(names.EPOCH) is None:
        return None
    epoch = int(result[names.EPOCH])
    now = int(time.time() * 1000)
    metrics = [(k, finite_metric(v), now) for k, v in result.items()
               if names.is_trial_metric(k) and k != names.EPOCH and v is not None]
    metrics.append((names.EPOCH, float(epoch), now))  # last: its presence marks the epoch as logged
    return Record("epoch", trial_id, epoch=epoch, metrics=metrics, node_id=str(result.get(names.NODE_ID, "")))


def end_record(trial_id: str, last_result: Optional[Mapping[str, Any]], error: bool, checkpoint: Any) -> Record:
    state = end_state(last_result, error)
    return Record("end", trial_id, state=state, checkpoint=checkpoint if state == names.STATE_COMPLETED else None)


#: Records sent together at most, and metrics per ``log_batch`` (MLflow's limit is 1,000).
MAX_GROUP = 50
BATCH_METRICS = 1000


class _Refused(Exception):
    """MLflow refused a group of records for good (not an outage)."""


@dataclass
class _RunState:
    run_id: str
    logged: set[int]
    attempts: int
    node_id: str = ""
    ended: bool = False


class TrialRunWriter:
    """Delivers ``Record``s in order on one thread; see the module docstring for the policy."""

    def __init__(self, info: TrackingInfo, example: Any = None, client: Any = None, fresh: bool = False,
                 source: Any = None) -> None:
        """``fresh``: the parent run is new, so no child run exists that this process did not create
        (no search per new trial: that query grows with the experiment). ``source``: the sweep's own
        ``ModelSource``, the only model function a logged checkpoint may name."""
        from mlflow.tracking import MlflowClient

        self.info = info
        self.fresh = fresh
        self.example = example
        self.source = source
        self.client = client if client is not None else MlflowClient(tracking_uri=info.uri)
        self._queue: list[Record] = []
        self._cond = threading.Condition()
        self._busy = False
        self._failing_since: Optional[float] = None
        """monotonic time of the first transient failure since the last delivery, None when healthy"""
        self._closed = False
        self._runs: dict[str, _RunState] = {}
        self.errors: list[str] = []
        self._thread: Optional[threading.Thread] = None

    # --- the Tune loop's side: enqueue only, never wait on the server ---
    def submit(self, record: Optional[Record]) -> None:
        if record is None:
            return
        with self._cond:
            self._queue.append(record)
            self._cond.notify_all()

    def pending(self) -> list[Record]:
        """Records not yet delivered (the one being sent included), oldest first."""
        with self._cond:
            return list(self._queue)

    def stop(self, outage_s: float, keep_in: Path, limit_s: Optional[float] = None) -> int:
        """Deliver (see ``flush``), stop the thread, and keep what is left in ``keep_in``
        (``restore_saved`` queues it again on resume); return how many records were left."""
        self.flush(outage_s, limit_s)
        self.close()
        return self.save_pending(keep_in)

    def save_pending(self, path: Path) -> int:
        """Keep the undelivered records in ``path`` (for the next resume), as JSON lines that only the
        launcher's user can read (0600): data, not a pickle, since output folders may be shared
        (a bind mount in compose), and unpickling runs whatever code the file names. Return how many."""
        records = self.pending()
        if records:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                for record in records:
                    out.write(json.dumps(record_to_json(record)) + "\n")
        return len(records)

    def restore_saved(self, path: Path) -> int:
        """Queue the records an earlier driver saved with ``save_pending``; return how many."""
        if not path.exists():
            return 0
        with open(path, encoding="utf-8") as saved:
            records = [record_from_json(json.loads(line)) for line in saved if line.strip()]
        self.restore(records)
        path.unlink()
        return len(records)

    def restore(self, records: list[Record]) -> None:
        """Put back records an earlier driver had not delivered, ahead of anything newer. A resume
        finds them twice, in the pending file and in Ray's saved state: a record already queued is not
        queued again (a start sent twice would count a second attempt)."""
        from collections import Counter

        with self._cond:
            queued = Counter(_identity(r) for r in self._queue)
            fresh = []
            for record in records:
                if queued[_identity(record)]:
                    queued[_identity(record)] -= 1
                else:
                    fresh.append(record)
            self._queue[:0] = fresh
            self._cond.notify_all()

    # --- lifetime ---
    def start(self) -> "TrialRunWriter":
        self._thread = threading.Thread(target=self._work, name="regsweep-mlflow-writer", daemon=True)
        self._thread.start()
        return self

    def flush(self, outage_s: float, limit_s: Optional[float] = None) -> int:
        """Wait for the queue to empty; return how many records are left.

        Gives up once the server has failed for ``outage_s`` seconds in a row (counted from this call
        at the earliest), or after ``limit_s`` seconds in any case. Slow deliveries are waited for: a
        wall-clock limit alone gave up on a healthy server that was still logging models."""
        start = time.monotonic()

        def give_up(now: float) -> bool:
            failing = self._failing_since
            if failing is not None and now - max(failing, start) >= outage_s:
                return True
            return limit_s is not None and now - start >= limit_s

        with self._cond:
            while (self._queue or self._busy) and not give_up(time.monotonic()):
                self._cond.wait(timeout=0.2)
            return len(self._queue)

    def close(self) -> None:
        """Stop the thread after the record it is sending (the rest stays in ``pending()``)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                group = self._head_group()
                self._busy = True
            delivered = self._deliver(group)
            with self._cond:
                self._busy = False
                if delivered and all(a is b for a, b in zip(self._queue, group)):
                    del self._queue[:len(group)]
                self._cond.notify_all()

    def _head_group(self) -> list[Record]:
        """The records at the head of the queue that go out together: a start alone, or one trial's
        consecutive epochs, with its end if it follows (one ``log_batch`` instead of one per record,
        which matters when thousands of short trials report at once)."""
        first = self._queue[0]
        group = [first]
        if first.kind != "epoch":
            return group
        for record in self._queue[1:MAX_GROUP]:
            if record.trial != first.trial or record.kind == "start":
                break
            group.append(record)
            if record.kind == "end":
                break
        return group

    def _deliver(self, group: list[Record]) -> bool:
        """Send records, riding out any outage; False only when the writer was closed meanwhile. A
        group MLflow refuses for good is sent again record by record, so only the bad one is skipped."""
        if len(group) > 1:
            try:
                return self._deliver_one(group, lambda: self.apply_group(group), raise_refusal=True)
            except _Refused:
                return all(self._deliver_one([record], lambda r=record: self.apply(r)) for record in group)
        return self._deliver_one(group, lambda: self.apply(group[0]))

    def _deliver_one(self, group: list[Record], send: Any, raise_refusal: bool = False) -> bool:
        record = group[-1]
        warned = False

        def attempt() -> Any:
            try:
                out = send()
            except Exception as exc:
                if self._failing_since is None and is_transient(exc):
                    self._failing_since = time.monotonic()
                raise
            self._failing_since = None
            return out

        while not self._closed:
            try:
                call_with_retry(attempt, record.what, self.info.max_outage_s, announce=not warned)
                return True
            except TrackingOutage as exc:
                if not warned:
                    waiting = len(self.pending())
                    print(f"regsweep: {exc.args[0] if exc.args else exc}; trials keep training and "
                          f"{waiting} record(s) wait on the driver. Fix: bring the server back (they are "
                          f"sent then), or raise tracking.max_outage_s", flush=True)
                    warned = True
            except Exception as exc:  # refused for good (a bad value, a broken model): say it, go on
                if raise_refusal:
                    raise _Refused() from exc
                self.errors.append(f"{record.what}: {type(exc).__name__}: {exc}")
                print(f"regsweep: WARNING: MLflow refused {record.what} ({type(exc).__name__}: "
                      f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); skipping it", flush=True)
                return True
        return False

    def remove_lost_runs(self, known_trials: set[str]) -> int:
        """Soft-delete child runs of trials that Ray's restored state does not know (call after a
        flush): a launcher killed before Ray saved a trial it had started leaves that trial's run
        behind, and Ray trains the config again under a new id. MLflow keeps deleted runs (its
        "deleted" view), so nothing is erased."""
        runs = call_with_retry(lambda: self.client.search_runs(
            [self.info.experiment_id], filter_string=f"tags.`{names.TAG_PARENT_RUN}` = '{self.info.parent_run_id}'",
            max_results=5000), "listing the child runs", self.info.max_outage_s)
        lost = [r for r in runs if r.data.tags.get(names.TAG_TRIAL_ID) not in known_trials]
        for run in lost:
            call_with_retry(lambda: self.client.delete_run(run.info.run_id), "removing a lost child run",
                            self.info.max_outage_s)
        return len(lost)

    # --- what each record does (idempotent: a retry after a lost answer changes nothing) ---
    def apply(self, record: Record) -> None:
        if record.kind == "start":
            self._start(record)
            return
        run = self._runs.get(record.trial) or self._open_existing(record.trial)
        if run is None or run.ended:
            return  # never started in MLflow (nothing to add to), or ended before the driver died
        if record.kind == "epoch":
            self._epochs(run, [record])
        else:
            self._end(run, record)

    def apply_group(self, records: list[Record]) -> None:
        """One trial's epochs (and its end): their metrics in one ``log_batch``, then the end. An end
        with no model to log rides in that batch as its state tag, so the end costs one request
        (``set_terminated``) instead of two: a trial ASHA stops early is 4 requests, not 5."""
        run = self._runs.get(records[0].trial) or self._open_existing(records[0].trial)
        if run is None or run.ended:
            return
        end = records[-1] if records[-1].kind == "end" else None
        fold = end is not None and end.checkpoint is None
        folded = self._epochs(run, [r for r in records if r.kind == "epoch"], state=end.state if fold else "")
        if end is not None:
            self._end(run, end, state_logged=folded)

    def _start(self, record: Record) -> None:
        from mlflow.entities import Param, RunTag

        run = self._runs.get(record.trial) or self._open_existing(record.trial)
        if run is not None and run.ended:
            return  # finished before the driver died: Ray only reports it again
        if record.attempt is None:
            record.attempt = (run.attempts if run is not None else 0) + 1
        if run is None and record.key:  # an earlier try may have made it, its answer lost
            run = self._find_started(record)
        if run is None:
            record.key = record.key or uuid.uuid4().hex
            created = self.client.create_run(self.info.experiment_id, run_name=record.run_name, tags={
                names.TAG_START_KEY: record.key,
                names.TAG_PARENT_RUN: self.info.parent_run_id, names.TAG_TRIAL_ID: record.trial,
                names.TAG_SWEEP: self.info.sweep, names.TAG_ROLE: names.ROLE_TRIAL,
                names.TAG_STATE: names.STATE_RUNNING, names.TAG_ATTEMPTS: str(record.attempt)})
            run = _RunState(created.info.run_id, set(), record.attempt)
            self._runs[record.trial] = run
        self.client.log_batch(run.run_id, params=[Param(k, str(v)) for k, v in record.params.items()],
                              tags=[RunTag(names.TAG_ATTEMPTS, str(record.attempt))])
        if record.attempt > 1:
            self.client.update_run(run.run_id, status=names.RUN_RUNNING)
        run.attempts = record.attempt

    def _find_started(self, record: Record) -> Optional[_RunState]:
        """The run an earlier try of ``record`` created, found by its start key (fresh mode too)."""
        found = self.client.search_runs(
            [self.info.experiment_id], filter_string=f"tags.`{names.TAG_START_KEY}` = '{record.key}'", max_results=1)
        if not found:
            return None
        run = _RunState(found[0].info.run_id, set(), record.attempt or 1)
        self._runs[record.trial] = run
        return run

    def _open_existing(self, trial_id: str) -> Optional[_RunState]:
        """The trial's child run as MLflow holds it (first touch in this driver process), or None."""
        if self.fresh:
            return None
        found = self.client.search_runs(
            [self.info.experiment_id],
            filter_string=(f"tags.`{names.TAG_PARENT_RUN}` = '{self.info.parent_run_id}' "
                           f"and tags.`{names.TAG_TRIAL_ID}` = '{trial_id}'"),
            max_results=1,
        )
        if not found:
            return None
        existing = found[0]
        logged = {int(m.step) for m in self.client.get_metric_history(existing.info.run_id, names.EPOCH)}
        run = _RunState(existing.info.run_id, logged, int(existing.data.tags.get(names.TAG_ATTEMPTS, "1")),
                        ended=existing.data.tags.get(names.TAG_STATE, names.STATE_RUNNING) != names.STATE_RUNNING)
        self._runs[trial_id] = run
        return run

    def _epochs(self, run: _RunState, records: list[Record], state: str = "") -> bool:
        """The epochs the run does not hold yet, in as few ``log_batch`` calls as MLflow allows, the
        ``state`` tag (when given) with the last of them. True when the state tag went out."""
        from mlflow.entities import Metric, RunTag

        epochs = [r for r in records if r.epoch not in run.logged]
        if not epochs:
            return False
        metrics = [Metric(k, v, ts, r.epoch) for r in epochs for k, v, ts in r.metrics]
        node = next((r.node_id for r in reversed(epochs) if r.node_id), "")
        tags = [RunTag(names.TAG_NODE_ID, node)] if node and node != run.node_id else []
        starts = range(0, len(metrics), BATCH_METRICS)
        for start in starts:
            batch_tags = tags if start == 0 else []
            if state and start == starts[-1]:
                batch_tags = [*batch_tags, RunTag(names.TAG_STATE, state)]
            self.client.log_batch(run.run_id, metrics=metrics[start:start + BATCH_METRICS], tags=batch_tags)
        run.logged.update(r.epoch for r in epochs)
        run.node_id = node or run.node_id
        return bool(state)

    def _end(self, run: _RunState, record: Record, state_logged: bool = False) -> None:
        """The model (from a completed trial's checkpoint), the state tag unless the epochs' batch
        carried it (``state_logged``), then the run's end status."""
        if record.checkpoint is not None:
            from trainables.trainable import ForeignCheckpoint

            try:
                self._log_model(run.run_id, record.checkpoint)
            except ForeignCheckpoint as exc:  # never imported: the run still ends with its state
                self.errors.append(f"{record.what}: {exc}")
                print(f"regsweep: WARNING: model of {record.what} not logged: {exc}", flush=True)
            record.checkpoint = None  # logged: a retry of the end does not log it twice
        if not state_logged:
            self.client.set_tag(run.run_id, names.TAG_STATE, record.state)
        self.client.set_terminated(run.run_id, status=run_status(record.state))
        run.ended = True

    def _log_model(self, run_id: str, checkpoint: Any) -> None:
        """Log the Keras model of the trial's final checkpoint as ``model``, with signature and input
        example, exactly as ``mlflow.keras.log_model`` would."""
        from trainables.tf_runtime import driver_tensorflow
        from trainables.trainable import checkpoint_model

        tf = driver_tensorflow()
        import keras
        import mlflow
        from mlflow.models import Model, infer_signature

        with checkpoint.as_directory() as ckpt_dir:
            model = checkpoint_model(ckpt_dir, self.source)
        # checkpoint_model clears Keras' session, which turns its progress bars back on; MLflow then
        # predicts on the input example and would draw one in the middle of the console
        keras.utils.disable_interactive_logging()
        example = self.example
        signature = infer_signature(example, model.predict(example, verbose=0)) if example is not None else None
        previous = mlflow.get_tracking_uri()
        mlflow.set_tracking_uri(self.info.uri)
        try:
            with mlflow.start_run(run_id=run_id):
                # Same call as mlflow.keras.log_model, through a flavor that creates the model directory
                # first: mlflow 3.17's keras save_model writes the input example before creating it.
                Model.log(artifact_path=None, name=names.MODEL_NAME, flavor=_KerasFlavor, model=model,
                          signature=signature, input_example=example,
                          pip_requirements=[f"tensorflow=={tf.__version__}", f"keras=={keras.__version__}"])
        finally:
            mlflow.set_tracking_uri(previous)


class _KerasFlavor:
    """``mlflow.keras`` with the save directory created before the input example is written."""

    __name__ = "mlflow.keras"

    @staticmethod
    def save_model(path: str, **kwargs: Any) -> None:
        import os

        import mlflow.keras

        os.makedirs(path, exist_ok=True)
        mlflow.keras.save_model(path=path, **kwargs)


def finite_metric(value: Any) -> float:
    """MLflow stores NaN but not +-inf portably; keep NaN, clip inf to the float range."""
    v = float(value)
    if math.isinf(v):
        return math.copysign(1.7976931348623157e308, v)
    return v
