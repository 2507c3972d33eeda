"""The search stops once its answer is settled: Optuna's Terminator (BestValueStagnationEvaluator) on
the trials that ran the full budget; trials ASHA stopped early neither reset nor advance it."""

from __future__ import annotations

from sweep.config.schema import SearchConfig
from sweep.search.searcher import PruneAwareOptunaSearch
from sweep.search.space import RegularizationSpace
from sweep.search.tuner import make_sampler
from trainables import names


def _searcher(patience: int) -> PruneAwareOptunaSearch:
    return PruneAwareOptunaSearch(space=RegularizationSpace(SearchConfig()), metric=names.OBJECTIVE, mode="max",
                                  sampler=make_sampler(0), study_name="s", with_baseline=True, searchable=True,
                                  patience=patience)


def _end(s: PruneAwareOptunaSearch, trial: str, value: float, finished: bool = True) -> None:
    result = {names.OBJECTIVE: value, names.EPOCH: 25 if finished else 5, names.FINISHED: float(finished),
              names.DIVERGED: 0.0, "training_iteration": 25 if finished else 5}
    s.on_trial_result(trial, result)
    s.on_trial_complete(trial, result)


def test_the_search_stops_after_patience_full_trials_that_do_not_beat_the_best():
    s = _searcher(patience=3)
    assert s.suggest("base") == {names.REGULARIZER: names.NONE}, "the baseline is a control, not in the study"
    _end(s, "base", 0.99)
    values = iter([0.95, 0.96, 0.955, 0.94, 0.93])
    for i in range(5):
        assert isinstance(s.suggest(f"t{i}"), dict)
        _end(s, f"t{i}", next(values))
        if i < 4:
            assert not s.settled(), f"after {i + 1} trials: the best (0.96) has fewer than 3 full trials after it"
    assert s.settled(), "0.955, 0.94 and 0.93 after 0.96: settled"
    assert s.suggest("t9") == s.FINISHED


def test_early_stopped_trials_do_not_count_and_a_new_best_resets_the_count():
    s = _searcher(patience=2)
    for i, (value, finished) in enumerate([(0.95, True), (0.5, False), (0.6, False), (0.94, True), (0.97, True),
                                           (0.96, True)]):
        assert isinstance(s.suggest(f"t{i}"), dict), f"t{i}"
        _end(s, f"t{i}", value, finished)
    assert not s.settled(), "0.97 is the best, one full trial (0.96) since: not yet 2"
    assert isinstance(s.suggest("t6"), dict)
    _end(s, "t6", 0.5, finished=False)
    assert not s.settled(), "an ASHA-stopped trial is not a full-budget comparison"
    assert isinstance(s.suggest("t7"), dict)
    _end(s, "t7", 0.965)
    assert s.settled()


def test_patience_zero_never_stops():
    s = _searcher(patience=0)
    for i in range(6):
        assert isinstance(s.suggest(f"t{i}"), dict)
        _end(s, f"t{i}", 0.9 if i else 0.95)
    assert not s.settled()
