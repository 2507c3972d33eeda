"""Where a sweep's wall time goes: the driver's phases and each trial's start, results and end.

The launcher marks its phases (Ray up, MLflow open, trials done, summary logged) on a ``Timeline``;
``TimingRecorder``, a Tune callback, stamps each trial's start, every result's arrival and its end on
the driver's clock. ``outputs/<name>/timings.json`` holds both, and the launcher prints one line from
it: start-up (launch to the first trial's first training step), trials, tear-down. The overhead
benchmark (``python -m sweep.bench overhead``) reads the same file.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ray.tune import Callback

from trainables import names

TIMINGS_FILE = "timings.json"
#: Phase marks (absolute ``time.time()`` seconds) the launcher sets, in order.
LAUNCHED = "launched"
DATA_READY = "data_ready"
RAY_READY = "ray_ready"
MLFLOW_READY = "mlflow_ready"
TRIALS_DONE = "trials_done"
SUMMARY_WRITTEN = "summary_written"
FINISHED = "finished"

#: The timelines of this driver process, by sweep name (a callback unpickled on resume finds its own).
_TIMELINES: dict[str, "Timeline"] = {}


@dataclass
class TrialTimes:
    """One trial on the driver's clock."""

    started: Optional[float] = None
    results: list[dict[str, float]] = field(default_factory=list)
    """Per result: ``at`` (arrival), ``epoch``, ``time_this_iter_s``, ``time_fit_s`` and, on the first
    epoch of a start, ``time_setup_s``."""
    ended: Optional[float] = None


@dataclass
class Timeline:
    """The launcher's phase marks and its trials' times."""

    name: str
    marks: dict[str, float] = field(default_factory=dict)
    trials: dict[str, TrialTimes] = field(default_factory=dict)

    def mark(self, phase: str, at: Optional[float] = None) -> None:
        """Stamp ``phase`` now (or at ``at``); the first stamp of a phase wins."""
        self.marks.setdefault(phase, time.time() if at is None else at)

    def trial(self, trial_id: str) -> TrialTimes:
        return self.trials.setdefault(trial_id, TrialTimes())

    def first_step(self) -> Optional[float]:
        """When the first trial began its first training step: the arrival of its first result,
        less that epoch's own time, plus the trial's setup."""
        starts = []
        for times in self.trials.values():
            if times.results:
                first = times.results[0]
                began = first["at"] - first.get("time_this_iter_s", 0.0)
                starts.append(began + first.get(names.TIME_SETUP_S, 0.0))
        return min(starts) if starts else None

    def last_result(self) -> Optional[float]:
        ends = [t.results[-1]["at"] for t in self.trials.values() if t.results]
        return max(ends) if ends else None

    def phases(self) -> dict[str, Optional[float]]:
        """Seconds of start-up (launch to the first training step), of trials (first step to the last
        result) and of tear-down (the last result to the end)."""
        launched, first, last = self.marks.get(LAUNCHED), self.first_step(), self.last_result()
        finished = self.marks.get(FINISHED)
        return {
            "startup_s": _span(launched, first),
            "trials_s": _span(first, last),
            "teardown_s": _span(last, finished),
            "total_s": _span(launched, finished),
        }

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "marks": self.marks, "phases": self.phases(),
                "trials": {tid: t.__dict__ for tid, t in self.trials.items()}}

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> "Timeline":
        return cls(payload["name"], dict(payload["marks"]),
                   {tid: TrialTimes(**t) for tid, t in payload["trials"].items()})

    def write(self, out_dir: Path) -> Path:
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / TIMINGS_FILE
        path.write_text(json.dumps(self.to_json(), indent=1))
        return path

    def line(self) -> str:
        """One line for the console."""
        p = self.phases()
        return ", ".join(f"{k[:-2].replace('_', ' ')} {v:.1f} s" for k, v in p.items() if v is not None)


def open_timeline(name: str, launched: float) -> Timeline:
    """The timeline of sweep ``name``, registered so that its recorder callbacks find it."""
    timeline = Timeline(name)
    timeline.mark(LAUNCHED, launched)
    _TIMELINES[name] = timeline
    return timeline


def close_timeline(timeline: Timeline) -> None:
    _TIMELINES.pop(timeline.name, None)


class TimingRecorder(Callback):
    """Stamps trial events on the driver's clock into the timeline registered under ``key``."""

    def __init__(self, key: str) -> None:
        self.key = key

    def _times(self, trial: Any) -> Optional[TrialTimes]:
        timeline = _TIMELINES.get(self.key)
        return timeline.trial(trial.trial_id) if timeline else None

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        times = self._times(trial)
        if times is not None and times.started is None:
            times.started = time.time()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        times = self._times(trial)
        if times is None:
            return
        row = {"at": time.time(), names.EPOCH: float(result.get(names.EPOCH, 0)),
               "time_this_iter_s": float(result.get("time_this_iter_s") or 0.0)}
        for key in (names.TIME_FIT_S, names.TIME_SETUP_S):
            if result.get(key) is not None:
                row[key] = float(result[key])
        times.results.append(row)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        times = self._times(trial)
        if times is not None:
            times.ended = time.time()

    on_trial_error = on_trial_complete

    def __getstate__(self) -> dict:
        return {"key": self.key}


def _span(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return None if a is None or b is None else b - a
