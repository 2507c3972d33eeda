"""OptunaSearch that tells Optuna the truth about trials ASHA stopped, diverged or errored.

Stock OptunaSearch reports an ASHA-stopped trial as COMPLETE with its truncated value, which
biases TPE toward configs that merely learn fast. Here such a trial is told as PRUNED (TPE then
ranks it below completed trials at its last step), a diverged trial as COMPLETE with the worst
possible value, and an errored trial as FAIL.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from ray.tune.search.optuna import OptunaSearch

from trainables import names

#: What Optuna is told for a diverged trial, per objective mode.
WORST_VALUE = {"max": 0.0, "min": float("inf")}


def end_state(result: Optional[Dict[str, Any]], error: bool) -> str:
    """Classify how a trial ended from its last result (shared by searcher and summary)."""
    if error:
        return names.STATE_ERRORED
    if not result:
        return names.STATE_ERRORED
    if result.get(names.DIVERGED):
        return names.STATE_DIVERGED
    if result.get(names.FINISHED):
        return names.STATE_COMPLETED
    return names.STATE_STOPPED


class PruneAwareOptunaSearch(OptunaSearch):
    """OptunaSearch whose completion handling distinguishes the four ways a trial ends."""

    def on_trial_complete(
        self, trial_id: str, result: Optional[Dict] = None, error: bool = False
    ) -> None:
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return super().on_trial_complete(trial_id, result, error)
        from optuna.trial import TrialState

        state = end_state(result, error)
        ot_trial = self._ot_trials[trial_id]
        if state == names.STATE_COMPLETED:
            return super().on_trial_complete(trial_id, result, error)
        if state == names.STATE_STOPPED:
            self._ot_study.tell(ot_trial, state=TrialState.PRUNED)
        elif state == names.STATE_DIVERGED:
            self._ot_study.tell(ot_trial, WORST_VALUE[self._mode], state=TrialState.COMPLETE)
        else:
            self._ot_study.tell(ot_trial, state=TrialState.FAIL)
        self._completed_trials.add(trial_id)
