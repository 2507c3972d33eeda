"""The search space yields only valid combinations; the searcher tells Optuna how trials ended."""

from __future__ import annotations

import pickle

import optuna
import pytest

from sweep.config import SearchConfig
from sweep.searcher import PruneAwareOptunaSearch
from sweep.space import RegularizationSpace, make_sampler
from trainables import names
from trainables.regularizers import RegularizerSpec

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
        if reg == names.NONE:
            assert params == {names.REGULARIZER: names.NONE}, "no lambda or placement for none"
        else:
            assert params[names.PLACEMENT] in names.PLACEMENTS
            assert 1e-5 <= params[names.LAMBDA] <= 1e-2
        if reg == names.ELASTIC_NET:
            assert 0.2 <= params[names.L1_RATIO] <= 0.8
        else:
            assert names.L1_RATIO not in params, "l1_ratio only for elastic net"
        RegularizerSpec.from_trial_config(params)  # every proposal builds
    assert seen == set(names.REGULARIZERS)


def test_space_respects_a_restricted_choice():
    search = SearchConfig(regularizers=[names.L2], placements=[names.ACTIVITY])
    for params in _study_params(search, 20, optuna.samplers.RandomSampler(seed=0)):
        assert params[names.REGULARIZER] == names.L2 and params[names.PLACEMENT] == names.ACTIVITY


def test_space_is_picklable_for_tune_experiment_state():
    space = RegularizationSpace(SearchConfig())
    assert pickle.loads(pickle.dumps(space)).fingerprint() == space.fingerprint()


def _searcher(**kwargs) -> PruneAwareOptunaSearch:
    return PruneAwareOptunaSearch(space=RegularizationSpace(SearchConfig(**kwargs)), metric=names.OBJECTIVE,
                                  mode="max", sampler=make_sampler(0), study_name="t")


def test_searcher_tells_optuna_how_each_trial_ended():
    from optuna.trial import TrialState

    s = _searcher()
    for i in range(4):
        s.suggest(f"t{i}")
        s.on_trial_result(f"t{i}", {names.OBJECTIVE: 0.5, "training_iteration": 1})
    s.on_trial_complete("t0", {names.OBJECTIVE: 0.9, names.FINISHED: 1.0, names.DIVERGED: 0.0})
    s.on_trial_complete("t1", {names.OBJECTIVE: 0.6, names.FINISHED: 0.0, names.DIVERGED: 0.0})
    s.on_trial_complete("t2", {names.OBJECTIVE: 0.1, names.FINISHED: 1.0, names.DIVERGED: 1.0})
    s.on_trial_complete("t3", {names.OBJECTIVE: 0.7}, error=True)
    trials = {t.number: t for t in s._ot_study.get_trials()}
    assert trials[0].state == TrialState.COMPLETE and trials[0].value == pytest.approx(0.9)
    assert trials[1].state == TrialState.PRUNED, "ASHA-stopped is pruned, not complete"
    assert trials[2].state == TrialState.COMPLETE and trials[2].value == 0.0, "diverged is the worst value"
    assert trials[3].state == TrialState.FAIL


def test_searcher_does_not_rerun_an_identical_config():
    s = _searcher(regularizers=[names.NONE, names.L2])
    configs = []
    for i in range(6):
        configs.append(s.suggest(f"t{i}"))
        s.on_trial_complete(f"t{i}", {names.OBJECTIVE: 0.9 if configs[-1][names.REGULARIZER] == names.NONE else 0.5,
                                      names.FINISHED: 1.0})
    nones = [c for c in configs if c[names.REGULARIZER] == names.NONE]
    assert len(nones) <= 1, configs
    assert len(configs) == 6 and all(isinstance(c, dict) for c in configs)


def test_searcher_accepts_a_duplicate_when_the_space_is_exhausted():
    s = _searcher(regularizers=[names.NONE])
    configs = [s.suggest("a"), s.suggest("b")]
    assert configs == [{names.REGULARIZER: names.NONE}] * 2
