"""Sequential confirmation's statistics on known answers: the planned looks (none before 3 paired
seeds), Haybittle–Peto's last-look level (calibrated for Student's t), the false "helped" rate of the whole
race on a true null, with one candidate and with three (Holm), its power against a known gain, the
futility stop's rate on a true null and on a true gain, and the race's rules on a trials table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sweep.common.labels import config_label
from sweep.report import ranking
from sweep.confirm import sequential
from sweep.confirm.sequential import Race
from sweep.stats.sequential import (INTERIM_P, Plan, conditional_power, haybittle_peto, seeds_needed)
from sweep.report.summary import TrialRecord, trials_table
from trainables import names

REPS = 1000
LOOKS = (3, 4, 5)  # search.confirm_seeds=4, search.confirm_max_seeds=6


def _bound(rate: float, reps: int = REPS) -> float:
    """``rate`` plus three binomial standard errors of ``reps`` draws."""
    return rate + 3 * math.sqrt(rate * (1 - rate) / reps)


def test_the_plan_pairs_fresh_seeds_only_and_never_looks_before_three():
    plan = Plan.from_search(4, 6)
    assert plan.looks == (3, 4, 5), "the search trial's own seed is never paired"
    assert [plan.new_seeds(k) for k in range(3)] == [[1, 2, 3], [4], [5]]
    assert Plan.from_search(3, 6).looks == (3, 4, 5), "a first look planned at 2 seeds waits for 3"
    assert Plan.from_search(3, 3).looks == (3,) and Plan.from_search(4, 4).looks == (3,), "one fixed round"
    assert Plan.from_search(0, 6).looks == () and Plan.from_search(1, 6).looks == ()


def test_haybittle_peto_spends_almost_nothing_before_the_last_look():
    one = haybittle_peto((5,), 0.025)
    assert one.final_p == 0.025 and one.p_at(5) == 0.025, "one look: the plain level"
    three = haybittle_peto(LOOKS, 0.025)
    assert three.p_at(3) == three.p_at(4) == INTERIM_P
    assert 0.0235 < three.final_p < 0.025, three.final_p
    assert haybittle_peto((2, 3, 4, 5), 0.025) == haybittle_peto(LOOKS, 0.025), "a look at 2 seeds decides nothing"
    assert three.confidence_at(5) == pytest.approx(1 - 2 * three.final_p)
    assert haybittle_peto(LOOKS, 0.025).final_p == three.final_p, "seeded: the same level every time"


def _candidates(k: int) -> tuple[pd.Series, list[pd.Series]]:
    base = pd.Series({names.REGULARIZER: names.NONE, names.PLACEMENT: None, names.LAMBDA: None, names.L1_RATIO: None})
    return base, [pd.Series({names.REGULARIZER: names.L2, names.PLACEMENT: names.ACTIVITY, names.LAMBDA: 0.01 * (i + 1),
                             names.L1_RATIO: None}) for i in range(k)]


def _races(rng: np.random.Generator, gains: list[float], sd: float, reps: int = REPS,
           looks: tuple[int, ...] = LOOKS) -> tuple[np.ndarray, np.ndarray, float]:
    """The shipped race on synthetic paired draws: per candidate the rate of "helped" and of futility
    stops, and the mean paired seeds trained."""
    base_row, rows = _candidates(len(gains))
    labels = [config_label(r) for r in rows]
    helped, futile, seeds = np.zeros(len(gains)), np.zeros(len(gains)), []
    for _ in range(reps):
        race = Race(base_row, rows, 0.95, looks)
        base = rng.normal(0.95, 0.01, looks[-1])
        cand = [base + rng.normal(g, sd, looks[-1]) for g in gains]
        last = looks[-1]
        for n in looks:
            racing = {config_label(r) for r in race.open()}
            tests = {l: dict(enumerate(c[:n], 1)) for l, c in zip(labels, cand, strict=True) if l in racing}
            if race.look_values(dict(enumerate(base[:n], 1)), tests):
                last = n
                break
        seeds.append(last)
        helped += [race.claims[l].helped for l in labels]
        futile += [race.claims[l].left.startswith("futile") for l in labels]
    return helped / reps, futile / reps, float(np.mean(seeds))


def test_the_whole_race_calls_a_true_null_helped_at_most_at_the_one_sided_rate():
    helped, futile, seeds = _races(np.random.default_rng(7), [0.0], 0.008)
    assert helped[0] <= _bound(0.025), helped
    assert futile[0] > 0.8, "a true null mostly stops for futility"
    assert seeds < 3.6, "and so costs little more than the first look"


def test_three_null_candidates_keep_the_family_wise_rate():
    """Holm's step-down over three candidates: any false "helped" at most 2.5%, where testing each at
    the full level would err about three times as often."""
    rng = np.random.default_rng(11)
    base_row, rows = _candidates(3)
    any_false = 0
    for _ in range(REPS):
        race = Race(base_row, rows, 0.95, (5,))
        base = rng.normal(0.95, 0.01, 5)
        tests = {config_label(r): dict(enumerate(base + rng.normal(0, 0.008, 5), 1)) for r in rows}
        race.look_values(dict(enumerate(base, 1)), tests)
        any_false += any(c.helped for c in race.claims.values())
    assert any_false / REPS <= _bound(0.025), any_false / REPS
    assert haybittle_peto((5,), 0.025 / 3).final_p == pytest.approx(0.025 / 3), "the first step tests at alpha / 3"


def test_power_against_a_known_gain_is_the_non_central_t_less_what_futility_costs():
    """+0.84 pp with a spread of 0.8 pp (the benchmark's L2 on activity): one look at 5 seeds has power
    P(T' > t) for Student's non-central t; the race, with its interim looks and futility, loses little."""
    bound = haybittle_peto(LOOKS, 0.025)
    exact = stats.nct.sf(stats.t.ppf(1 - bound.final_p, 4), 4, 0.84 / 0.8 * math.sqrt(5))
    assert exact == pytest.approx(0.425, abs=0.002)
    helped, futile, _ = _races(np.random.default_rng(5), [0.0084], 0.008)
    se = math.sqrt(exact * (1 - exact) / REPS)
    assert exact - 0.05 - 3 * se <= helped[0] <= exact + 3 * se, (helped, exact)
    assert 0.2 < futile[0] < 0.7, "futility stops some true gains that would not have shown"


def test_a_clear_gain_is_claimed_at_an_interim_look():
    helped, _, seeds = _races(np.random.default_rng(3), [0.03], 0.003, reps=200)
    assert helped[0] == 1.0 and seeds < 5, "+3 pp with a spread of 0.3 pp: claimed before the last look"


def test_conditional_power_and_the_seeds_needed_have_known_answers():
    # at the gain measured, a trend far above the line is certain, one at 0 is hopeless
    assert conditional_power([0.02, 0.021, 0.019], 5, 0.0245) > 0.99
    assert conditional_power([0.001, -0.001, 0.0], 5, 0.0245) < 0.01
    # by hand: mean 0.5, sd 1 over 3 seeds, last look at 5, final p 0.025
    c = stats.t.ppf(0.975, 4) * 1.0 / math.sqrt(5)
    needed = (c * 5 - 3 * 0.5) / 2
    assert conditional_power([-0.5, 0.5, 1.5], 5, 0.025) == pytest.approx(stats.norm.sf((needed - 0.5) / (1 / math.sqrt(2))))
    n = seeds_needed(0.0084, 0.008, 0.025)
    assert stats.nct.sf(stats.t.ppf(0.975, n - 1), n - 1, 1.05 * math.sqrt(n)) >= 0.8
    assert stats.nct.sf(stats.t.ppf(0.975, n - 2), n - 2, 1.05 * math.sqrt(n - 1)) < 0.8
    assert seeds_needed(-0.001, 0.008, 0.025) is None and seeds_needed(1e-6, 0.01, 0.025) is None


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
    return Race(row["no regularization"], [row[config_label(pd_row(c))] for c in configs], 0.95, (3, 4, 5))


def pd_row(config: dict):
    import pandas as pd

    return pd.Series({names.L1_RATIO: None, names.PLACEMENT: None, names.LAMBDA: None, **config})


def test_a_clear_winner_is_decided_and_a_worse_candidate_leaves_the_race():
    table = trials_table(_records(NONE, [0.950, 0.952, 0.951]) + _records(GOOD, [0.980, 0.9815, 0.9805])
                         + _records(BAD, [0.900, 0.901, 0.9005]))
    race = _race(table, GOOD, BAD)
    assert race.look(table), "both decided after one round: +3 pp at an interim look, -5 pp worse"
    assert race.open() == []
    assert race.claims["L2 on activity, λ=0.01"].helped and race.claims["L2 on activity, λ=0.01"].gain.above_zero
    assert race.dropped["L1 on kernel, λ=0.003"].startswith("worse than no regularization")
    assert not race.claims["L1 on kernel, λ=0.003"].helped


def test_a_candidate_behind_the_leader_on_validation_leaves_and_a_tie_goes_on():
    """Both gain +0.5 pp on test with a spread: not decided, not futile; the one behind on validation leaves."""
    table = trials_table(_records(NONE, [0.950, 0.950, 0.950], [0.95, 0.95, 0.95])
                         + _records(GOOD, [0.955, 0.951, 0.959], [0.980, 0.9805, 0.9802])
                         + _records(MEH, [0.9551, 0.9511, 0.9591], [0.960, 0.9601, 0.9603]))
    race = _race(table, GOOD, MEH)
    assert not race.look(table), "the leader is not yet shown better than no regularization: another round"
    assert "L2 on kernel and bias, λ=0.001" in race.dropped and "behind" in race.dropped["L2 on kernel and bias, λ=0.001"]
    assert [config_label(c) for c in race.open()] == ["L2 on activity, λ=0.01"]


def test_a_tie_stops_for_futility_and_says_how_many_seeds_it_would_take():
    table = trials_table(_records(NONE, [0.950, 0.953, 0.951]) + _records(GOOD, [0.951, 0.952, 0.9505]))
    race = _race(table, GOOD)
    assert race.look(table), "no chance to show a gain by 5 seeds: over at the first look"
    why = race.dropped["L2 on activity, λ=0.01"]
    assert why.startswith("futile: at 3 paired seeds the chance that 5 would show a gain is") and "below 10%" in why
    assert "if the gain and spread measured so far are the true ones" in why, "conditional power, not a fact"
    assert "at the measured gain (not above 0) no number of seeds would show one" in why, "its gain is below 0"
    table = trials_table(_records(NONE, [0.950, 0.950, 0.950]) + _records(GOOD, [0.9505, 0.9515, 0.950]))
    race = _race(table, GOOD)
    assert race.look(table)
    claim = race.claims["L2 on activity, λ=0.01"]
    assert claim.seeds_needed is not None and claim.seeds_needed > 5
    assert f"about {claim.seeds_needed} paired seeds (80% power)" in claim.left


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


def test_futility_off_runs_every_candidate_to_the_last_look():
    base_row, rows = _candidates(1)
    race = Race(base_row, rows, 0.95, LOOKS, futility=0.0)
    tests = {config_label(rows[0]): {1: 0.950, 2: 0.953, 3: 0.951}}
    assert not race.look_values({1: 0.951, 2: 0.952, 3: 0.951}, tests), "a tie at 3 seeds goes on"
    assert race.dropped == {}
