"""OptunaSearch that tells Optuna the truth about how trials ended, measures the baseline once, and
never trains a twin.

- **The baseline is a control, not a search point.** The tuning playbook's scientific parameters are
  the regularizer and its placement; ``none`` is the control every gain is stated against. The
  searcher therefore hands out ``{regularizer: none}`` once, as its first trial, without an Optuna
  trial behind it, and Optuna's space holds only real penalties. TPE can then not spend the budget
  re-proposing the baseline or configs that only look like it.
- **End states.** Stock OptunaSearch reports an ASHA-stopped trial as COMPLETE with its truncated
  value, which biases TPE toward configs that merely learn fast. Here such a trial is told as PRUNED,
  a diverged or collapsed trial as COMPLETE with the worst possible value, an errored one as FAIL
  (and when Ray runs an errored trial again on resume, its real end is added to the study).
  In a multi-objective study (``search.objectives=[val_accuracy, sparsity]``) the same holds: a
  stopped trial is PRUNED with no values, which multi-objective TPE ranks below every completed one.
- **An epoch budget.** With ``epoch_budget`` (the search's share of ``search.budget_epochs``), no
  trial starts that could take the search past it: a running trial counts at its full budget until
  it ends, an ended one at the epochs it trained. While a running trial may still free epochs (ASHA
  stops it early), the next suggestion waits; once none is running and none fits, the search is over.
- **Below a collapse** (on when sparsity is an objective). An L1 or
  elastic-net trial that collapsed to chance at lambda says where that penalty's useful range ends,
  and the sparse answers lie just below it. So the same penalty and placement is enqueued at
  lambda / ``collapse_descent`` (``search.collapse_descent``, default 5; Optuna's public
  ``enqueue_trial``, inside the space), once per
  collapse: a collapse there descends again, so a few trials walk down to the collapse point.
- **A settled answer.** With ``patience``, no new trial starts once ``patience`` trials in a row were
  told COMPLETE (ran the full budget, or collapsed or diverged, told at the worst value) without beating
  the best validation accuracy so far: Optuna's own ``Terminator`` with its
  ``BestValueStagnationEvaluator`` (a trial ASHA stopped early is PRUNED, so it neither resets nor
  advances the count). The trials already running finish; the epochs saved are left for confirmation.
- **Duplicates.** Every search trial uses the same seed, so a proposal identical to an earlier trial
  would give an identical result. It is told to Optuna as FAIL (TPE ignores failed trials, so no value
  is invented) and replaced by a fresh proposal, a bounded number of times.
"""

from __future__ import annotations

import json

from typing import Any, Dict, Optional

from ray.tune.search.optuna import OptunaSearch

from sweep.internals.ray_internals import optuna_study, optuna_trials, told_trials
from sweep.common.states import end_state
from trainables import names

#: What Optuna is told for a diverged or collapsed trial, per objective mode.
WORST_VALUE = {"max": 0.0, "min": float("inf")}
#: How many duplicate proposals one suggest() replaces before it accepts a duplicate.
MAX_DUPLICATE_RETRIES = 25
#: Optuna user attribute set on a proposal that was dropped as a duplicate (value: the twin's number).
DUPLICATE_ATTR = "regsweep_duplicate_of"
#: Penalties whose collapse point bounds their sparse answers.
DESCENDING_PENALTIES = (names.L1, names.ELASTIC_NET)
#: The baseline's trial config.
BASELINE_CONFIG: Dict[str, Any] = {names.REGULARIZER: names.NONE}


def _params_key(params: Dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def is_baseline(config: Optional[Dict[str, Any]]) -> bool:
    """True for the unregularized control."""
    return bool(config) and config.get(names.REGULARIZER, names.NONE) == names.NONE  # type: ignore[union-attr]


class PruneAwareOptunaSearch(OptunaSearch):
    """OptunaSearch with a baseline control, truthful end states and no duplicate trials.

    ``with_baseline``: hand out the ``none`` control as the first trial. ``searchable``: whether the
    Optuna space has any penalized config at all (False: the baseline is the only trial).
    """

    def __init__(self, *args: Any, with_baseline: bool = True, searchable: bool = True, epoch_budget: int = 0,
                 epochs_per_trial: int = 0, collapse_descent: float = 0.0, patience: int = 0,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._patience = patience
        self._descend = collapse_descent
        self._baseline_pending = with_baseline
        self._baseline_trials: set[str] = set()
        self._searchable = searchable
        self._epoch_budget = epoch_budget
        self._epochs_per_trial = epochs_per_trial
        self._epochs: dict[str, int] = {}
        """Trial id -> epochs trained so far, for every trial this searcher handed out."""
        self._ended: set[str] = set()
        self._errored: dict[str, int] = {}
        """Trial id -> Optuna trial number of an errored trial (told FAIL) that Ray may run again."""

    @property
    def study(self) -> Any:
        """The Optuna study this searcher asks and tells (what the report rebuilds and tests read)."""
        return optuna_study(self)

    def committed_epochs(self) -> int:
        """What the handed-out trials may train at most: a running one its full budget, an ended one
        what it trained."""
        epochs, ended = getattr(self, "_epochs", {}), getattr(self, "_ended", set())
        return sum(n if t in ended else self._epochs_per_trial for t, n in epochs.items())

    def _over_budget(self) -> bool:
        budget = getattr(self, "_epoch_budget", 0)
        return bool(budget) and self.committed_epochs() + self._epochs_per_trial > budget

    def suggest(self, trial_id: str) -> Optional[Dict]:
        if trial_id in self._baseline_trials:
            return dict(BASELINE_CONFIG)
        if trial_id not in getattr(self, "_epochs", {}):
            if self._over_budget():  # wait while a running trial may still stop early and free epochs
                return None if set(self._epochs) - self._ended else self.FINISHED
            if hasattr(self, "_epochs"):
                self._epochs[trial_id] = 0
        if self._baseline_pending:
            self._baseline_pending = False
            self._baseline_trials.add(trial_id)
            return dict(BASELINE_CONFIG)
        if not self._searchable or self.settled():
            return self.FINISHED
        config = super().suggest(trial_id)
        for _ in range(MAX_DUPLICATE_RETRIES):
            ot_trial = optuna_trials(self).get(trial_id)
            if not isinstance(config, dict) or ot_trial is None:
                break
            twin = self._twin_of(ot_trial)
            if twin is None:
                break
            self._drop_duplicate(trial_id, ot_trial, twin)
            config = super().suggest(trial_id)
        return config

    def settled(self) -> bool:
        """True once ``patience`` completed trials in a row have not beaten the best (Optuna's
        Terminator); never for a multi-objective study, nor for a searcher pickled before it had one."""
        patience = getattr(self, "_patience", 0)
        if not patience or isinstance(self.mode, list):
            return False
        import warnings

        from optuna.terminator import BestValueStagnationEvaluator, StaticErrorEvaluator, Terminator

        with warnings.catch_warnings():  # Optuna marks the terminator experimental
            warnings.simplefilter("ignore")
            return Terminator(improvement_evaluator=BestValueStagnationEvaluator(max_stagnation_trials=patience - 1),
                              error_evaluator=StaticErrorEvaluator(0.0),
                              min_n_trials=patience + 1).should_terminate(optuna_study(self))

    def _worst(self) -> Any:
        """The worst value per objective (a list for a multi-objective study)."""
        if isinstance(self.mode, list):
            return [WORST_VALUE[mode] for mode in self.mode]
        return WORST_VALUE[self.mode]

    def _twin_of(self, ot_trial: Any) -> Any:
        """An earlier trial with the same params that ran or runs (failed and dropped ones don't count).
        Looked up in an index by params, not by a scan of the study: a scan per suggestion makes a
        sweep's search time grow with the square of its trial count. A trial without a twin enters
        the index."""
        from optuna.trial import TrialState

        index = self._params_index()
        key = _params_key(ot_trial.params)
        number = index.get(key)
        if number is not None and number != ot_trial.number:
            twin = optuna_study(self).get_trials(deepcopy=False)[number]  # numbers are positions in the study
            if twin.state != TrialState.FAIL:
                return twin
        index[key] = ot_trial.number
        return None

    def _params_index(self) -> dict[str, int]:
        """params -> trial number of the trials that count as twins (built once, then kept up to date;
        an unpickled searcher of an older version builds it from its study)."""
        index = getattr(self, "_by_params", None)
        if index is None:
            from optuna.trial import TrialState

            index = {_params_key(t.params): t.number for t in optuna_study(self).get_trials(deepcopy=False)
                     if t.state != TrialState.FAIL and t.params}
            self._by_params = index
        return index

    def _drop_duplicate(self, trial_id: str, ot_trial: Any, twin: Any) -> None:
        from optuna.trial import TrialState

        ot_trial.set_user_attr(DUPLICATE_ATTR, twin.number)
        optuna_study(self).tell(ot_trial, state=TrialState.FAIL)
        del optuna_trials(self)[trial_id]

    def on_trial_result(self, trial_id: str, result: Dict) -> None:
        self._count_epochs(trial_id, result)
        if trial_id in self._baseline_trials:
            return None
        return super().on_trial_result(trial_id, result)

    def _count_epochs(self, trial_id: str, result: Optional[Dict]) -> None:
        epochs = getattr(self, "_epochs", None)
        if epochs is not None and trial_id in epochs and result and result.get(names.EPOCH) is not None:
            epochs[trial_id] = max(epochs[trial_id], int(result[names.EPOCH]))

    def on_trial_complete(
        self, trial_id: str, result: Optional[Dict] = None, error: bool = False
    ) -> None:
        self._count_epochs(trial_id, result)
        if not error and hasattr(self, "_ended"):  # an errored trial is retried under the same id
            self._ended.add(trial_id)
        if trial_id in self._baseline_trials:
            if error:  # Ray retries an errored trial under the same id: hand the baseline out again then
                return None
            told_trials(self).add(trial_id)
            return None
        rerun = getattr(self, "_errored", {}).get(trial_id)
        if rerun is not None and not error:  # an errored trial that Ray ran again (resume) has now ended
            return self._tell_rerun(trial_id, rerun, result)
        if trial_id in told_trials(self) or trial_id not in optuna_trials(self):
            return super().on_trial_complete(trial_id, result, error)
        from optuna.trial import TrialState

        state = end_state(result, error)
        ot_trial = optuna_trials(self)[trial_id]
        if state == names.STATE_COMPLETED:
            return super().on_trial_complete(trial_id, result, error)
        if state == names.STATE_STOPPED:
            optuna_study(self).tell(ot_trial, state=TrialState.PRUNED)
        elif state in names.FAILED_CONFIG_STATES:
            optuna_study(self).tell(ot_trial, self._worst(), state=TrialState.COMPLETE)
            if state == names.STATE_COLLAPSED and getattr(self, "_descend", 0.0):
                self._enqueue_below(ot_trial)
        else:
            optuna_study(self).tell(ot_trial, state=TrialState.FAIL)
            if not hasattr(self, "_errored"):  # a searcher pickled by an earlier version
                self._errored = {}
            self._errored[trial_id] = ot_trial.number  # Ray may run it again under the same id
            index = self._params_index()
            if index.get(_params_key(ot_trial.params)) == ot_trial.number:  # a failed trial is nobody's twin
                del index[_params_key(ot_trial.params)]
        told_trials(self).add(trial_id)

    def _enqueue_below(self, ot_trial: Any) -> None:
        """Enqueue the collapsed trial's penalty and placement at lambda / collapse_descent, if the
        space reaches that low."""
        params = dict(ot_trial.params)
        if params.get(names.REGULARIZER) not in DESCENDING_PENALTIES or names.LAMBDA not in params:
            return
        lam = float(params[names.LAMBDA]) / self._descend
        if lam < float(ot_trial.distributions[names.LAMBDA].low):
            return
        optuna_study(self).enqueue_trial({**params, names.LAMBDA: lam}, skip_if_exists=True)

    def _tell_rerun(self, trial_id: str, number: int, result: Optional[Dict]) -> None:
        """A FAILed Optuna trial cannot be told again: the rerun's real end goes in as a new trial with
        the same params (Optuna's public ``create_trial``/``add_trial``), so the study holds its value."""
        import optuna
        from optuna.trial import TrialState

        del self._errored[trial_id]
        state = end_state(result, False)
        failed = optuna_study(self).trials[number]
        if state == names.STATE_COMPLETED:
            metrics = self.metric if isinstance(self.metric, list) else [self.metric]
            values = [float((result or {})[m]) for m in metrics]
        elif state in names.FAILED_CONFIG_STATES:
            values = list(self._worst()) if isinstance(self.mode, list) else [self._worst()]
        elif state == names.STATE_STOPPED:
            optuna_study(self).add_trial(optuna.trial.create_trial(
                params=failed.params, distributions=failed.distributions, state=TrialState.PRUNED))
            return None
        else:
            return None
        optuna_study(self).add_trial(optuna.trial.create_trial(
            params=failed.params, distributions=failed.distributions, values=values))
        self._params_index()[_params_key(failed.params)] = len(optuna_study(self).trials) - 1  # a twin from now on
        return None
