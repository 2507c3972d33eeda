"""OptunaSearch that tells Optuna the truth about how trials ended, and never reruns a twin.

Stock OptunaSearch reports an ASHA-stopped trial as COMPLETE with its truncated value, which
biases TPE toward configs that merely learn fast. Here such a trial is told as PRUNED (TPE then
ranks it below completed trials at its last step), a diverged trial as COMPLETE with the worst
possible value, and an errored trial as FAIL.

Every trial uses the same seed, so two trials with identical params give identical results; the
``none`` baseline, which has no other params, would otherwise be proposed again and again. A
proposal identical to an earlier trial is answered from that trial's outcome and replaced by a
fresh one (a bounded number of times, so an exhausted space still runs).
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from ray.tune.search.optuna import OptunaSearch

from trainables import names

#: What Optuna is told for a diverged trial, per objective mode.
WORST_VALUE = {"max": 0.0, "min": float("inf")}
#: How many duplicate proposals one suggest() replaces before it accepts a duplicate.
MAX_DUPLICATE_RETRIES = 25


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
    """OptunaSearch that distinguishes the four ways a trial ends and skips duplicate configs."""

    def suggest(self, trial_id: str) -> Optional[Dict]:
        config = super().suggest(trial_id)
        for _ in range(MAX_DUPLICATE_RETRIES):
            if not isinstance(config, dict) or trial_id not in self._ot_trials:
                break
            ot_trial = self._ot_trials[trial_id]
            twin = self._twin_of(ot_trial)
            if twin is None:
                break
            self._answer_from_twin(ot_trial, twin)
            del self._ot_trials[trial_id]
            config = super().suggest(trial_id)
        return config

    def _twin_of(self, ot_trial: Any) -> Any:
        from optuna.trial import TrialState

        for other in self._ot_study.get_trials(deepcopy=False):
            if other.number != ot_trial.number and other.state != TrialState.FAIL and other.params == ot_trial.params:
                return other
        return None

    def _answer_from_twin(self, ot_trial: Any, twin: Any) -> None:
        from optuna.trial import TrialState

        if twin.state == TrialState.COMPLETE:
            self._ot_study.tell(ot_trial, twin.value, state=TrialState.COMPLETE)
        elif twin.state == TrialState.PRUNED:
            self._ot_study.tell(ot_trial, state=TrialState.PRUNED)
        else:  # the twin is still running: its outcome is unknown, so this proposal is void
            self._ot_study.tell(ot_trial, state=TrialState.FAIL)

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
