"""How a trial ended, decided once from Ray's last result, and the MLflow run status that goes with it.

The searcher (what Optuna is told), the summary (results.csv) and the MLflow writer (the child run's
state tag and status) all read the end state from here, so they cannot disagree.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from trainables import names

#: MLflow run status of each end state: a config that diverged, collapsed or crashed FAILED, a trial
#: that ASHA stopped was KILLED, a trial that trained to the end FINISHED.
RUN_STATUS = {
    names.STATE_COMPLETED: names.RUN_FINISHED,
    names.STATE_STOPPED: names.RUN_KILLED,
    names.STATE_DIVERGED: names.RUN_FAILED,
    names.STATE_COLLAPSED: names.RUN_FAILED,
    names.STATE_ERRORED: names.RUN_FAILED,
}


def end_state(result: Optional[Mapping[str, Any]], error: bool) -> str:
    """Classify how a trial ended from its last result."""
    if error or not result:
        return names.STATE_ERRORED
    if result.get(names.DIVERGED):
        return names.STATE_DIVERGED
    if result.get(names.COLLAPSED):
        return names.STATE_COLLAPSED
    if result.get(names.FINISHED):
        return names.STATE_COMPLETED
    return names.STATE_STOPPED


def run_status(state: str) -> str:
    """MLflow run status for a trial end state."""
    return RUN_STATUS[state]
