"""The search space yields only valid combinations; the searcher tells Optuna how trials ended."""

from __future__ import annotations

import pickle

import optuna
import pytest

from sweep.config.schema import SearchConfig
from sweep.search.searcher import DUPLICATE_ATTR, PruneAwareOptunaSearch
from sweep.search.space import RegularizationSpace, make_sampler
from trainables import names
from trainables.model.regularizers import RegularizerSpec

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _study_params(search: SearchConfig, n: int, sampler) -> list[dict]:
    space = RegularizationSpace(search)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    out = []
    for i in range(n):
        trial = study.ask()
        space(trial)
        out.append(dict(trial.params))
        study.tell(trial, float(i % 7) / 7)
    return out


@pytest.mark.parametrize("sampler", [optuna.samplers.RandomSampler(seed=1), make_sampler(0)])
def test_space_yields_only_valid_combinations(sampler):
    search = SearchConfig(lambda_low=1e-5, lambda_high=1e-2, l1_ratio_low=0.2, l1_ratio_high=0.8)
    seen = set()
    for params in _study_params(search, 120, sampler):
        reg = params[names.REGULARIZER]
        seen.add(reg)
        assert reg != names.NONE, "the baseline is a control measured once, never a search point"
        assert params[names.PLACEMENT] in names.PLACEMENTS
        assert 1e-5 <= params[names.LAMBDA] <= 1e-2
        if reg == names.ELASTIC_NET:
            assert 0.2 <= params[names.L1_RATIO] <= 0.8
        else:
            assert names.L1_RATIO not in params, "l1_ratio only for elastic net"
        RegularizerSpec.from_trial_config(params)  # every proposal builds
    assert seen == {names.L1, names.L2, names.ELASTIC_NET}


def test_search_sampler_picks_windowed_tpe_or_optunas_gp():
    from sweep.search.windowed_tpe import WindowedTPESampler

    assert isinstance(make_sampler(0, 8, "tpe"), WindowedTPESampler)
    assert isinstance(make_sampler(0, 8, "gp"), optuna.samplers.GPSampler)


def test_gp_sampler_models_the_space_after_its_startup_trials():
    """Where torch is installed (pip install 'regsweep[gp]'); CI's default environment has no torch."""
    pytest.importorskip("torch")
    search = SearchConfig(lambda_low=1e-5, lambda_high=1e-2, l1_ratio_low=0.2, l1_ratio_high=0.8)
    space = RegularizationSpace(search)
    study = optuna.create_study(direction="maximize", sampler=make_sampler(0, 4, "gp"))
    study.optimize(lambda t: (space(t), -abs(__import__("math").log10(t.params[names.LAMBDA]) + 3.5))[1],
                   n_trials=14)
    for trial in study.trials:
        RegularizerSpec.from_trial_config(trial.params)
        assert (names.L1_RATIO in trial.params) == (trial.params[names.REGULARIZER] == names.ELASTIC_NET)
    assert abs(__import__("math").log10(study.best_params[names.LAMBDA]) + 3.5) < 0.5, "GP found the optimum"


def test_space_respects_a_restricted_choice():
    search = SearchConfig(regularizers=[names.L2], placements=[names.ACTIVITY])
    for params in _study_params(search, 20, optuna.samplers.RandomSampler(seed=0)):
        assert params[names.REGULARIZER] == names.L2 and params[names.PLACEMENT] == names.ACTIVITY


def test_space_is_picklable_for_tune_experiment_state():
    space = RegularizationSpace(SearchConfig())
    assert pickle.loads(pickle.dumps(space)).fingerprint() == space.fingerprint()


def _searcher(with_baseline: bool = True, points=None, **kwargs) -> PruneAwareOptunaSearch:
    space = RegularizationSpace(SearchConfig(**kwargs))
    return PruneAwareOptunaSearch(space=space, metric=names.OBJECTIVE, mode="max", sampler=make_sampler(0),
                                  study_name="t", points_to_evaluate=points, with_baseline=with_baseline,
                                  searchable=space.searchable)


def test_searcher_tells_optuna_how_each_trial_ended():
    from optuna.trial import TrialState

    s = _searcher(with_baseline=False)
    for i in range(5):
        s.suggest(f"t{i}")
        s.on_trial_result(f"t{i}", {names.OBJECTIVE: 0.5, "training_iteration": 1})
    s.on_trial_complete("t0", {names.OBJECTIVE: 0.9, names.FINISHED: 1.0, names.DIVERGED: 0.0})
    s.on_trial_complete("t1", {names.OBJECTIVE: 0.6, names.FINISHED: 0.0, names.DIVERGED: 0.0})
    s.on_trial_complete("t2", {names.OBJECTIVE: 0.1, names.FINISHED: 1.0, names.DIVERGED: 1.0})
    s.on_trial_complete("t3", {names.OBJECTIVE: 0.7}, error=True)
    s.on_trial_complete("t4", {names.OBJECTIVE: 0.1, names.FINISHED: 1.0, names.COLLAPSED: 1.0})
    trials = {t.number: t for t in s.study.get_trials()}
    assert trials[0].state == TrialState.COMPLETE and trials[0].value == pytest.approx(0.9)
    assert trials[1].state == TrialState.PRUNED, "ASHA-stopped is pruned, not complete"
    assert trials[2].state == TrialState.COMPLETE and trials[2].value == 0.0, "diverged is the worst value"
    assert trials[3].state == TrialState.FAIL
    assert trials[4].state == TrialState.COMPLETE and trials[4].value == 0.0, "collapsed is the worst value"


def test_searcher_hands_out_the_baseline_once_first_without_an_optuna_trial():
    s = _searcher(regularizers=[names.NONE, names.L2])
    configs = [s.suggest(f"t{i}") for i in range(4)]
    assert configs[0] == {names.REGULARIZER: names.NONE}
    assert all(c[names.REGULARIZER] == names.L2 for c in configs[1:])
    s.on_trial_result("t0", {names.OBJECTIVE: 0.9, "training_iteration": 1})
    s.on_trial_complete("t0", {names.OBJECTIVE: 0.9, names.FINISHED: 1.0})
    assert len(s.study.get_trials()) == 3, "the baseline is not an Optuna trial"
    assert s.suggest("t0") == {names.REGULARIZER: names.NONE}, "a retried baseline stays the baseline"


def test_duplicate_proposals_add_no_phantom_results_to_the_study():
    """Regression: each duplicate used to be told to Optuna as a COMPLETE trial with its twin's value,
    up to 25 times per suggest(), inflating the study and pulling TPE toward the duplicated config."""
    from optuna.trial import TrialState

    point = {names.REGULARIZER: names.L2, names.PLACEMENT: names.ACTIVITY, names.LAMBDA: 0.01}
    s = _searcher(with_baseline=False, points=[dict(point), dict(point), dict(point)],
                  regularizers=[names.L2], placements=[names.ACTIVITY])
    first = s.suggest("a")
    s.on_trial_complete("a", {names.OBJECTIVE: 0.9, names.FINISHED: 1.0})
    second = s.suggest("b")  # the two enqueued twins are proposed, dropped, then TPE proposes afresh
    s.on_trial_complete("b", {names.OBJECTIVE: 0.8, names.FINISHED: 1.0})
    assert first == point and second != point
    trials = s.study.get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert [t.value for t in complete] == [0.9, 0.8], "one COMPLETE per trial that really ran"
    dropped = [t for t in trials if t.state == TrialState.FAIL]
    assert len(dropped) == 2 and all(t.user_attrs[DUPLICATE_ATTR] == 0 for t in dropped)
    assert all(t.values is None for t in dropped), "no value is invented for a dropped duplicate"
    assert len(trials) == 4


def test_a_baseline_only_sweep_ends_after_the_baseline():
    s = _searcher(regularizers=[names.NONE])
    assert s.suggest("a") == {names.REGULARIZER: names.NONE}
    assert s.suggest("b") == PruneAwareOptunaSearch.FINISHED


def test_no_two_trials_that_count_share_a_config_and_a_failed_trials_config_may_run_again():
    """The duplicate check is an index by params (a scan of the study per suggestion grew with the
    square of the trial count); it must decide exactly as the scan did."""
    from optuna.trial import TrialState

    point = {names.REGULARIZER: names.L2, names.PLACEMENT: names.ACTIVITY, names.LAMBDA: 0.01}
    s = _searcher(with_baseline=False, points=[dict(point)], regularizers=[names.L2], placements=[names.ACTIVITY])
    assert s.suggest("a") == point
    s.on_trial_complete("a", None, error=True)  # errored: told FAIL, so it is nobody's twin
    s.study.enqueue_trial(dict(point))
    assert s.suggest("b") == point, "the config of a failed trial is proposed again"
    for i in range(40):
        s.suggest(f"t{i}")
        s.on_trial_complete(f"t{i}", {names.OBJECTIVE: 0.5, names.FINISHED: 1.0})
    counted = [t.params for t in s.study.get_trials() if t.state != TrialState.FAIL]
    keys = [tuple(sorted(p.items())) for p in counted]
    assert len(keys) == len(set(keys)) == 42 - 1


def test_windowed_tpe_is_optunas_tpe_below_the_window_and_still_finds_the_optimum_above_it():
    """What the window does to TPE's proposals is pinned in tests/test_optuna_internals.py."""
    from sweep.search.windowed_tpe import WindowedTPESampler

    def run(sampler, n=30):
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(lambda t: -(t.suggest_float("x", -3, 3) - 1) ** 2, n_trials=n)
        return study

    plain = run(optuna.samplers.TPESampler(seed=3, n_startup_trials=5))
    windowed = run(WindowedTPESampler(seed=3, n_startup_trials=5, recent=100, best=10))
    assert [t.params for t in plain.trials] == [t.params for t in windowed.trials]

    small = run(WindowedTPESampler(seed=3, n_startup_trials=5, recent=8, best=3), n=40)
    assert max(t.value for t in small.trials[20:]) > -0.05, "it still finds the optimum"


def test_a_multi_objective_searcher_tells_both_objectives_and_the_same_end_states():
    """search.objectives=[val_accuracy, sparsity]: Optuna's study has two directions, a completed trial
    gives both values, a stopped one is pruned (no values), a diverged one the worst of both."""
    from optuna.trial import TrialState

    space = RegularizationSpace(SearchConfig())
    s = PruneAwareOptunaSearch(space=space, metric=[names.VAL_ACCURACY, names.SPARSITY], mode=["max", "max"],
                               sampler=make_sampler(0), study_name="mo", with_baseline=False, searchable=True)
    for i in range(12):
        assert s.suggest(f"t{i}")[names.REGULARIZER] in (names.L1, names.L2, names.ELASTIC_NET)
        s.on_trial_result(f"t{i}", {names.VAL_ACCURACY: 0.5, names.SPARSITY: 0.1, "training_iteration": 1})
    for i in range(10):  # the TPE model takes over after the start-up trials
        s.on_trial_complete(f"t{i}", {names.VAL_ACCURACY: 0.5 + i / 100, names.SPARSITY: 0.5 - i / 100,
                                      names.FINISHED: 1.0})
    s.on_trial_complete("t10", {names.VAL_ACCURACY: 0.3, names.SPARSITY: 0.9, names.FINISHED: 0.0})
    s.on_trial_complete("t11", {names.VAL_ACCURACY: 0.1, names.SPARSITY: 0.0, names.FINISHED: 1.0,
                                names.DIVERGED: 1.0})
    assert len(s.study.directions) == 2
    trials = {t.number: t for t in s.study.get_trials()}
    assert trials[3].values == pytest.approx([0.53, 0.47])
    assert trials[10].state == TrialState.PRUNED and trials[10].values is None
    assert trials[11].values == [0.0, 0.0]
    assert len(s.study.best_trials) == 10, "every completed trial trades accuracy for sparsity"
    assert s.suggest("t12")[names.REGULARIZER] in (names.L1, names.L2, names.ELASTIC_NET), "TPE proposes on"


def test_an_errored_trial_that_completes_on_resume_gets_its_real_value_in_the_study(tmp_path):
    """Ray reruns an errored trial under the same id (resume_errored): before, its success was ignored
    as a second completion and the study kept only FAIL."""
    from optuna.trial import TrialState

    from sweep.internals.ray_internals import optuna_study

    space = RegularizationSpace(SearchConfig())
    searcher = PruneAwareOptunaSearch(space=space, metric=names.VAL_ACCURACY, mode="max", sampler=make_sampler(0),
                                      study_name="rerun", with_baseline=False, searchable=True)
    assert searcher.suggest("t0") is not None
    searcher.on_trial_complete("t0", None, error=True)
    searcher.save(str(tmp_path / "searcher.pkl"))  # the launcher dies; the sweep resumes
    resumed = PruneAwareOptunaSearch(space=space, metric=names.VAL_ACCURACY, mode="max", sampler=make_sampler(0),
                                     study_name="rerun", with_baseline=False, searchable=True)
    resumed.restore(str(tmp_path / "searcher.pkl"))
    resumed.on_trial_complete("t0", {names.VAL_ACCURACY: 0.87, names.FINISHED: 1.0})
    trials = optuna_study(resumed).trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE]
    assert trials[1].value == 0.87 and trials[1].params == trials[0].params


def test_a_collapsed_l1_trial_enqueues_the_same_penalty_below_a_third_of_its_lambda():
    """With sparsity an objective, a collapse at lambda sends that penalty and placement to lambda/5 next
    (then lower again if that collapses too); an L2 collapse, or a collapse with the descent off, adds
    nothing; a lambda whose fifth falls below the space stays where it is."""
    COLLAPSE_DESCENT = SearchConfig().collapse_descent
    collapsed = {names.VAL_ACCURACY: 0.1, names.REMOVABLE: 0.0, names.FINISHED: 1.0, names.COLLAPSED: 1.0}
    l1 = {names.REGULARIZER: names.L1, names.PLACEMENT: names.KERNEL_BIAS, names.LAMBDA: 0.01}
    l2 = {names.REGULARIZER: names.L2, names.PLACEMENT: names.KERNEL_BIAS, names.LAMBDA: 0.05}
    floor = {names.REGULARIZER: names.L1, names.PLACEMENT: names.ACTIVITY, names.LAMBDA: 2e-5}

    def searcher(descend: float) -> PruneAwareOptunaSearch:
        space = RegularizationSpace(SearchConfig())
        return PruneAwareOptunaSearch(space=space, metric=[names.VAL_ACCURACY, names.REMOVABLE],
                                      mode=["max", "max"], sampler=make_sampler(0), study_name="d",
                                      points_to_evaluate=[l1, l2, floor], with_baseline=False, searchable=True,
                                      collapse_descent=descend)

    s = searcher(COLLAPSE_DESCENT)
    assert [s.suggest(t) for t in ("a", "b", "c")] == [l1, l2, floor]
    for t in ("a", "b", "c"):
        s.on_trial_complete(t, collapsed)
    below = s.suggest("d")
    assert below == {**l1, names.LAMBDA: pytest.approx(0.01 / COLLAPSE_DESCENT)} and COLLAPSE_DESCENT >= 3
    s.on_trial_complete("d", collapsed)
    assert s.suggest("e") == {**l1, names.LAMBDA: pytest.approx(0.01 / COLLAPSE_DESCENT ** 2)}
    s.on_trial_complete("e", {names.VAL_ACCURACY: 0.9, names.REMOVABLE: 0.4, names.FINISHED: 1.0})
    waiting = [t for t in s.study.get_trials() if t.state == optuna.trial.TrialState.WAITING]
    assert waiting == [], "a trial that did not collapse enqueues nothing"

    off = searcher(0.0)
    for t in ("a", "b", "c"):
        off.suggest(t)
        off.on_trial_complete(t, collapsed)
    assert off.suggest("d")[names.LAMBDA] != pytest.approx(0.01 / COLLAPSE_DESCENT)
