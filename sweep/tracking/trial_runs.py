"""The driver's one MLflow writer: every trial's child run, its epochs, its end state and its model.

Trials never talk to MLflow. Ray's result stream already brings every epoch to the driver, where
``TrialRunLogger`` (a ``tune.Callback``) turns Tune's events into records on an ordered queue, and
one thread (``TrialRunWriter``) delivers them through the one retry policy of ``sweep.tracking.retry``.
The records and their codec are in ``sweep.tracking.records``, the MLflow calls behind each in
``sweep.tracking.child_runs``; this module holds the queue, the thread and the outage policy:

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
  the sweep also keeps them in ``<output_dir>/<name>/.mlflow-pending.jsonl``, and resume sends them.
- **Attempts.** Each start of a trial (the first, a Ray retry, a restore) is one attempt. A trial
  whose child run had already ended before the driver died is not counted again, and its re-reported
  results are ignored.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Optional

from sweep.tracking.child_runs import ChildRuns
from sweep.tracking.records import Record, TrackingInfo, identity, load_records, save_records
from sweep.tracking.retry import TrackingOutage, call_with_retry, is_transient

#: Records sent together at most.
MAX_GROUP = 50


class _Refused(Exception):
    """MLflow refused a group of records for good (not an outage)."""


class TrialRunWriter:
    """Delivers ``Record``s in order on one thread; see the module docstring for the policy."""

    def __init__(self, info: TrackingInfo, example: Any = None, client: Any = None, fresh: bool = False,
                 source: Any = None) -> None:
        """``fresh``: the parent run is new, so no child run exists that this process did not create
        (no search per new trial: that query grows with the experiment). ``source``: the sweep's own
        ``ModelSource``, the only model function a logged checkpoint may name."""
        from mlflow.tracking import MlflowClient

        self.info = info
        self.runs = ChildRuns(info, client if client is not None else MlflowClient(tracking_uri=info.uri),
                              fresh=fresh, example=example, source=source)
        self._queue: list[Record] = []
        self._cond = threading.Condition()
        self._busy = False
        self._failing_since: Optional[float] = None
        """monotonic time of the first transient failure since the last delivery, None when healthy"""
        self._closed = False
        self._refused: list[str] = []
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
        return save_records(path, self.pending())

    def restore_saved(self, path: Path) -> int:
        """Queue the records an earlier driver saved with ``save_pending``; return how many."""
        if not path.exists():
            return 0
        records = load_records(path)
        self.restore(records)
        path.unlink()
        return len(records)

    def restore(self, records: list[Record]) -> None:
        """Put back records an earlier driver had not delivered, ahead of anything newer. A resume
        finds them twice, in the pending file and in Ray's saved state: a record already queued is not
        queued again (a start sent twice would count a second attempt)."""
        with self._cond:
            queued = Counter(identity(r) for r in self._queue)
            fresh = []
            for record in records:
                if queued[identity(record)]:
                    queued[identity(record)] -= 1
                else:
                    fresh.append(record)
            self._queue[:0] = fresh
            self._cond.notify_all()

    @property
    def errors(self) -> list[str]:
        """What MLflow refused for good, and models that could not be logged, in words."""
        return [*self._refused, *self.runs.errors]

    def run_ids(self) -> dict[str, str]:
        """Trial id -> child run id, for the runs delivered so far (report.html links them)."""
        return self.runs.run_ids()

    def remove_lost_runs(self, known_trials: set[str]) -> int:
        """Soft-delete child runs of trials that Ray's restored state does not know (``ChildRuns``)."""
        return self.runs.remove_lost_runs(known_trials)

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
                return self._deliver_one(group, lambda: self.runs.apply_group(group), raise_refusal=True)
            except _Refused:
                return all(self._deliver_one([record], lambda r=record: self.runs.apply(r)) for record in group)
        return self._deliver_one(group, lambda: self.runs.apply(group[0]))

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
                self._refused.append(f"{record.what}: {type(exc).__name__}: {exc}")
                print(f"regsweep: WARNING: MLflow refused {record.what} ({type(exc).__name__}: "
                      f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); skipping it", flush=True)
                return True
        return False
