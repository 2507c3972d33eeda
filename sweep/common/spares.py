"""The trials the scheduler spared, by trial id, in the driver process: the scheduler (``sweep.search.rungs``)
writes it when it overrides ASHA's stop, and the MLflow callback (``sweep.tracking.tune_callback``) puts
it on the trial's results, so the child run, ``results.csv`` and report.html show it. A leaf, so that the
two stages share it without importing each other."""

from __future__ import annotations

_SPARED: dict[str, list[int]] = {}


def record(trial_id: str, epoch: int) -> None:
    """The scheduler spared ``trial_id`` at the rung at ``epoch``."""
    rungs = _SPARED.setdefault(trial_id, [])
    if epoch not in rungs:
        rungs.append(epoch)


def spared_at(trial_id: str) -> list[int]:
    """The rung epochs at which ``trial_id`` was spared, in order ([] when never)."""
    return list(_SPARED.get(trial_id, []))
