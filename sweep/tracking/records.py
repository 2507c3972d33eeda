"""What the driver writes to a trial's child run, as records: one per start, epoch and end, in the order
Tune saw them, stamped once so a resend is identical. Plain data with a JSON codec, since undelivered
records are kept on disk for the next resume (JSON lines, never a pickle: output folders may be shared,
and unpickling runs whatever code the file names)."""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from sweep.common.states import end_state
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
    spared: str = ""
    """An epoch's: the rung epochs at which the scheduler spared the trial so far (``5, 20``)."""
    key: str = ""
    """A start's own id, tagged on the run it creates, set before the first try: when the server made
    the run but its answer was lost, the retry finds that run by it instead of making a second."""

    @property
    def what(self) -> str:
        return _WHAT[self.kind].format(trial=self.trial, epoch=self.epoch)


def identity(record: Record) -> tuple[str, str, int]:
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


def epoch_record(trial_id: str, result: Mapping[str, Any], spared: Sequence[int] = ()) -> Optional[Record]:
    """The child-run metrics of one Tune result, or None for a result that is not an epoch; ``spared``:
    the rung epochs at which the scheduler spared the trial so far (its child run's tag)."""
    if result.get(names.EPOCH) is None:
        return None
    epoch = int(result[names.EPOCH])
    now = int(time.time() * 1000)
    metrics = [(k, finite_metric(v), now) for k, v in result.items()
               if names.is_trial_metric(k) and k != names.EPOCH and v is not None]
    metrics.append((names.EPOCH, float(epoch), now))  # last: its presence marks the epoch as logged
    return Record("epoch", trial_id, epoch=epoch, metrics=metrics, node_id=str(result.get(names.NODE_ID, "")),
                  spared=", ".join(str(e) for e in spared))


def end_record(trial_id: str, last_result: Optional[Mapping[str, Any]], error: bool, checkpoint: Any) -> Record:
    state = end_state(last_result, error)
    return Record("end", trial_id, state=state, checkpoint=checkpoint if state == names.STATE_COMPLETED else None)


def save_records(path: Path, records: list[Record]) -> int:
    """Write ``records`` to ``path`` as JSON lines that only the launcher's user can read (0600);
    return how many."""
    if records:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            for record in records:
                out.write(json.dumps(record_to_json(record)) + "\n")
    return len(records)


def load_records(path: Path) -> list[Record]:
    """The records ``save_records`` wrote to ``path`` (none when it does not exist)."""
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as saved:
        return [record_from_json(json.loads(line)) for line in saved if line.strip()]


def finite_metric(value: Any) -> float:
    """MLflow stores NaN but not +-inf portably; keep NaN, clip inf to the float range."""
    v = float(value)
    if math.isinf(v):
        return math.copysign(1.7976931348623157e308, v)
    return v
