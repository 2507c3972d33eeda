"""Sequential confirmation's statistics on known answers: the planned looks, Pocock's per-look level
(calibrated for Student's t), the false "helped" rate of the whole sequence, and the race's rules
(a clear case stops at the first look, a worse candidate leaves, a tie runs to the end)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sweep.common.labels import config_label
from sweep.report import ranking
from sweep.stats.paired import paired_difference
from sweep.confirm.sequential import Race
from sweep.stats.sequential import Plan, look_confidence
from sweep.report.summary import TrialRecord, trials_table
from trainables import names

REPS = 2000


def test_the_plan_pairs_fresh_seeds_only_one_more_each_round():
    plan = Plan.from_search(3, 6)
    assert plan.looks == (2, 3, 4, 5), "the search trial's own seed is never paired"
    assert [plan.new_seeds(k) for k in range(4)] == [[1, 2], [3], [4], [5]]
    assert Plan.from_search(3, 3).looks == (2,), "equal: one fixed round"
    assert Plan.from_search(0, 6).looks == () and Plan.from_search(1, 6).looks == ()


def test_pocock_level_grows_with_the_looks_and_one_look_is_the_plain_level():
    assert look_confidence((3,), 0.95) == 0.95
    assert look_confidence((1, 2, 3), 0.95) == 0.95, "a look at fewer than 3 seeds decides nothing: no level spent"
    assert look_confidence((2, 3, 4), 0.95) == look_confidence((3, 4), 0.95)
    three, four = look_confidence((3, 4, 5), 0.95), look_confidence((3, 4, 5, 6), 0.95)
    assert 0.95 < three < four < 0.995
    assert look_confidence((3, 4, 5, 6), 0.95) == four, "seeded: the same level every time"


def _sequence(rng, plan: Plan, level: float, gain: float, sd: float = 0.01) -> tuple[bool, int]:
    """(helped, paired seeds used) of one simulated sequence, with the race's stopping rule."""
    diffs = rng.normal(gain, sd, size=plan.looks[-1])
    base = {s: 0.95 for s in range(1, plan.looks[-1] + 1)}
    cand = {s: 0.95 + diffs[s - 1] for s in base}
    for n in plan.looks:
        d = paired_difference({s: cand[s] for s in range(1, n + 1)}, base, 0.95, level=level)
        if d.decided:
            return d.above_zero, n
    return False, plan.looks[-1]


def test_the_whole_sequence_calls_an_aa_comparison_helped_at_most_at_the_one_sided_rate():
    plan = Plan.from_search(3, 6)
    level = look_confidence(plan.looks, 0.95)
    rng = np.random.default_rng(7)
    rate = sum(_sequence(rng, plan, level, 0.0)[0] for _ in range(REPS)) / REPS
    assert rate <= 0.025 + 3 * math.sqrt(0.025 * 0.975 / REPS), rate
    naive = sum(_sequence(rng, plan, 0.95, 0.0)[0] for _ in range(REPS)) / REPS
    assert naive > rate and naive > 0.03, "four looks at the plain 95% would err more often"


def test_a_clear_gain_stops_at_three_seeds_and_a_small_one_costs_more():
    """+3 pp with a spread of 0.3 pp: no look before three paired seeds (two leave Student's t one degree
    quantile is about 39), so the clear case is decided at the second look, three seeds."""
    plan = Plan.from_search(3, 6)
    level = look_confidence(plan.looks, 0.95)
    rng = np.random.default_rng(3)
    clear = [_sequence(rng, plan, level, gain=0.03, sd=0.003) for _ in range(200)]
    assert all(helped for helped, _ in clear) and np.median([n for _, n in clear]) == 3
    subtle = [_sequence(rng, plan, level, gain=0.009, sd=0.006) for _ in range(200)]
    assert np.mean([n for _, n in subtle]) > np.mean([n for _, n in clear])


def _records(config: dict, tests: list[float], vals: list[float] | None = None) -> list[TrialRecord]:
    """Confirmation runs of one config at seeds 1, 2, ..."""
    vals = vals or tests
    return [TrialRecord(trial=f"{config}-{seed}", config={**config, names.SEED: seed},
                        metrics={names.VAL_ACCURACY: v, names.TEST_ACCURACY: t, names.EPOCH: 25, names.SPARSITY: 0.1,
                                 names.FINISHED: 1.0, names.COLLAPSED: 0.0, names.DIVERGED: 0.0},
                        error=False, phase=names.PHASE_CONFIRM, seed=seed)
            for seed, (t, v) in enumerate(zip(tests, vals, strict=True), 1)]


NONE = {names.REGULARIZER: names.NONE}
GOOD = {names.REGULARIZER: names.L2, names.PLACEMENT: names.ACTIVITY, names.LAMBDA: 0.01}
BAD = {names.REGULARIZER: names.L1, names.PLACEMENT: names.KERNEL, names.LAMBDA: 0.003}
MEH = {names.REGULARIZER: names.L2, names.PLACEMENT: names.KERNEL_BIAS, names.LAMBDA: 0.001}


def _race(table, *configs) -> Race:
    stats = ranking.config_stats(table)
    row = {config_label(r): r for _, r in stats.iterrows()}
    return Race(row["no regularization"], [row[config_label(pd_row(c))] for c in configs], 0.95,
                look_confidence((2, 3, 4, 5), 0.95))


def pd_row(config: dict):
    import pandas as pd

    return pd.Series({names.L1_RATIO: None, names.PLACEMENT: None, names.LAMBDA: None, **config})


def test_a_clear_winner_is_decided_and_a_worse_candidate_leaves_the_race():
    table = trials_table(_records(NONE, [0.950, 0.952, 0.951]) + _records(GOOD, [0.980, 0.9815, 0.9805])
                         + _records(BAD, [0.900, 0.901, 0.9005]))
    race = _race(table, GOOD, BAD)
    assert race.look(table), "both decided after one round"
    assert [config_label(c) for c in race.alive()] == ["L2 on activity, λ=0.01"]
    assert race.dropped["L1 on kernel, λ=0.003"].startswith("worse than no regularization")
    assert race.gain(table, race.alive()[0]).above_zero


def test_a_candidate_behind_the_leader_on_validation_leaves_and_a_tie_goes_on():
    table = trials_table(_records(NONE, [0.950, 0.953, 0.951], [0.95, 0.95, 0.95])
                         + _records(GOOD, [0.951, 0.952, 0.9505], [0.980, 0.9805, 0.9802])
                         + _records(MEH, [0.952, 0.951, 0.9515], [0.960, 0.9601, 0.9603]))
    race = _race(table, GOOD, MEH)
    assert not race.look(table), "the leader ties with no regularization on test: another round"
    assert "L2 on kernel and bias, λ=0.001" in race.dropped and "behind" in race.dropped["L2 on kernel and bias, λ=0.001"]
    assert [config_label(c) for c in race.alive()] == ["L2 on activity, λ=0.01"]


@pytest.mark.parametrize("overrides, key", [
    (["search.confirm_seeds=3", "search.confirm_max_seeds=2"], "search.confirm_max_seeds"),
    (["search.budget_epochs=-1"], "search.budget_epochs"),
])
def test_confirm_max_seeds_below_confirm_seeds_and_a_negative_budget_are_refused(overrides, key):
    from sweep.config.compose import load_config
    from trainables.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        load_config(overrides)
    assert err.value.key == key
