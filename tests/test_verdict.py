"""Noise-aware ranking, the simplicity tie-break and every caveat of the verdict, on hand-made results.

Each config runs a search trial (seed 0) and confirmation runs (seeds 1, 2, ...); the verdict's gain
is paired over the confirmation seeds only."""

from __future__ import annotations

import pytest
from scipy import stats

from sweep.report import ranking
from sweep.config.schema import SearchConfig
from sweep.report.summary import TrialRecord, trials_table
from sweep.confirm.sequential import Race
from sweep.report.build import choose_answer
from sweep.report.verdict import make_verdict
from trainables import names

N_VAL, N_TEST = 287, 360
SEARCH = SearchConfig(regularizers=[names.NONE, names.L1, names.L2], lambda_low=1e-5, lambda_high=0.1)
NONE = {names.REGULARIZER: names.NONE}


def _cfg(reg: str, placement: str, lam: float) -> dict:
    return {names.REGULARIZER: reg, names.PLACEMENT: placement, names.LAMBDA: lam}


def _runs(config: dict, vals: list[float], tests: list[float], state: str = names.STATE_COMPLETED) -> list[TrialRecord]:
    """One search trial (seed 0) and confirmation runs (seeds 1, 2, ...) of one config."""
    out = []
    for seed, (val, test) in enumerate(zip(vals, tests, strict=True)):
        metrics = {names.VAL_ACCURACY: val, names.TEST_ACCURACY: test, names.EPOCH: 25, names.SPARSITY: 0.1,
                   names.FINISHED: 1.0, names.COLLAPSED: float(state == names.STATE_COLLAPSED),
                   names.DIVERGED: float(state == names.STATE_DIVERGED)}
        if state != names.STATE_COMPLETED:
            metrics[names.EPOCH] = 5
            del metrics[names.TEST_ACCURACY]
        out.append(TrialRecord(trial=f"{config}-{seed}", config={**config, **({names.SEED: seed} if seed else {})},
                               metrics=metrics, error=False,
                               phase=names.PHASE_SEARCH if seed == 0 else names.PHASE_CONFIRM, seed=seed))
    return out


def _answer(records: list[TrialRecord], search: SearchConfig = SEARCH, seeds: int = 3,
            looks: tuple[int, ...] | None = None):
    """The shipped choice (``build.choose_answer``) and a race over the confirmation seeds (one look at
    all of them unless ``looks``; futility off with ``looks``), then the verdict."""
    table = trials_table(records)
    stats = ranking.config_stats(table)
    rec, best_pen, confirmed = choose_answer(table, stats, N_VAL, search)
    claims = {}
    if confirmed is not None:
        cstats = confirmed.stats
        base = cstats[cstats[names.REGULARIZER] == names.NONE].iloc[0]
        rows = [r for _, r in cstats[cstats[names.REGULARIZER] != names.NONE].iterrows()]
        race = (Race(base, rows, search.confidence, (max(int(r["n_seeds"]) for r in rows),)) if looks is None
                else Race(base, rows, search.confidence, looks, futility=0.0))
        race.look(table)
        claims = race.claims
    return rec, make_verdict(table, confirmed.stats if confirmed is not None else stats, rec, best_pen, search,
                             claims=claims, confirmed=confirmed is not None)


def test_configs_are_ranked_by_their_mean_with_sd_and_seed_count():
    records = (_runs(NONE, [0.95, 0.96, 0.94], [0.95, 0.95, 0.95])
               + _runs(_cfg(names.L2, names.ACTIVITY, 0.01), [0.99, 0.97, 0.98], [0.97, 0.97, 0.97])
               + _runs(_cfg(names.L1, names.KERNEL, 1e-4), [0.991], [0.96]))
    stats = ranking.config_stats(trials_table(records))
    assert stats["val_mean"].tolist() == pytest.approx([0.991, 0.98, 0.95])
    assert stats["n_seeds"].tolist() == [1, 3, 3]
    assert stats.loc[1, "val_sd"] == pytest.approx(0.01)
    assert "0.9800 ± 0.0100" in ranking.render_stats(stats)


def test_among_configs_equal_within_noise_the_smallest_lambda_wins():
    big = _cfg(names.L2, names.ACTIVITY, 0.03)
    small = _cfg(names.L2, names.ACTIVITY, 0.001)
    records = (_runs(NONE, [0.90, 0.91, 0.90], [0.90, 0.90, 0.91])
               + _runs(big, [0.975, 0.976, 0.974], [0.97, 0.97, 0.97])
               + _runs(small, [0.973, 0.975, 0.972], [0.968, 0.97, 0.969]))
    table = trials_table(records)
    rec, _ = ranking.choose(ranking.config_stats(table), N_VAL, 3, table)
    assert rec[names.LAMBDA] == 0.001, "without confirmation: 0.974 vs 0.973 is within noise, the smaller lambda is simpler"
    rec, _ = _answer(records)
    assert rec[names.LAMBDA] == 0.03, "with confirmation: the best estimate of test accuracy (+6.7 pp against +6.3)"


def test_no_regularization_wins_a_tie_with_a_penalty():
    records = (_runs(NONE, [0.970, 0.968, 0.972, 0.969], [0.96, 0.962, 0.961, 0.960])
               + _runs(_cfg(names.L2, names.ACTIVITY, 0.01), [0.972, 0.970, 0.971, 0.970], [0.963, 0.96, 0.962, 0.961]))
    rec, verdict = _answer(records, seeds=4)
    assert rec[names.REGULARIZER] == names.NONE
    assert not verdict.helped
    assert verdict.headline.startswith("Keep no regularization: no penalty is proven to help"), verdict.headline
    assert "L2 on activity, λ=0.01" in verdict.headline, "it names the best penalty and its figure"
    assert "P(gain > 0) = 0.50" in verdict.headline, "a mean gain of 0: even odds"
    assert any("interval of the test gain" in c and "reaches 0" in c for c in verdict.caveats), "the undecided caveat"


def test_a_gain_beyond_noise_is_stated_with_its_paired_interval_and_seeds():
    records = (_runs(NONE, [0.950, 0.952, 0.948, 0.951], [0.955, 0.960, 0.950, 0.953])
               + _runs(_cfg(names.L2, names.ACTIVITY, 0.01), [0.985, 0.987, 0.984, 0.986], [0.990, 0.972, 0.966, 0.967]))
    rec, verdict = _answer(records, seeds=4)
    assert rec[names.REGULARIZER] == names.L2 and verdict.helped
    # confirmation seeds 1-3 only: differences +1.2, +1.6, +1.4 pp (the search seed's +3.5 is the winner's curse)
    assert verdict.gain_pp == pytest.approx(1.4, abs=1e-6)
    assert verdict.gain.n == 3
    t = 4.302652729911275  # Student's t, 2 degrees of freedom, 97.5%
    half = t * 0.2 / 3 ** 0.5  # sd of (1.2, 1.6, 1.4) pp is 0.2
    assert 100 * verdict.gain.low == pytest.approx(1.4 - half, abs=1e-6)
    assert 100 * verdict.gain.high == pytest.approx(1.4 + half, abs=1e-6)
    p = stats.t.sf(1.4 / (0.2 / 3 ** 0.5), 2)
    assert verdict.headline == (f"L2 on activity, λ=0.01 helped: +1.4 pp (95% interval {1.4 - half:+.1f} to {1.4 + half:+.1f}, "
                                f"3 paired seeds, each on its own split) test accuracy over no regularization; "
                                f"P(gain > 0) = {1 - p:.2f}.")
    assert not any("reaches 0" in c for c in verdict.caveats)
    fields = verdict.gain_fields()
    assert fields["paired_seeds"] == 3 and fields["confidence"] == 0.95 and fields["helped"] is True
    assert fields["gain_interval_pp"] == pytest.approx([1.4 - half, 1.4 + half])
    assert fields["p_gain_positive"] == pytest.approx(1 - p)


def test_the_search_trial_never_counts_in_the_gain():
    """A lucky search trial (+6 pp) with confirmation seeds that tie: no gain is claimed."""
    records = (_runs(NONE, [0.95, 0.95, 0.95, 0.95], [0.90, 0.95, 0.951, 0.949])
               + _runs(_cfg(names.L2, names.ACTIVITY, 0.01), [0.99, 0.99, 0.99, 0.99], [0.96, 0.951, 0.949, 0.950]))
    _, verdict = _answer(records, seeds=4)
    assert verdict.gain_pp == pytest.approx(0.0, abs=1e-6) and verdict.gain.n == 3
    assert not verdict.helped


def test_one_paired_seed_gives_no_interval_and_no_claim():
    records = (_runs(NONE, [0.95, 0.95], [0.95, 0.95]) + _runs(_cfg(names.L2, names.ACTIVITY, 0.01), [0.99, 0.99],
                                                               [0.99, 0.99]))
    rec, verdict = _answer(records, seeds=2)
    assert rec[names.REGULARIZER] == names.L2 and not verdict.helped, "+4 pp on one seed: the better estimate, no evidence"
    assert "too few paired seeds to tell (1): a 95% interval needs 3" in verdict.headline
    assert "P(gain > 0)" not in verdict.headline
    assert any("search.confirm_seeds=4" in c for c in verdict.caveats)


def test_two_paired_seeds_print_no_interval():
    """The README's quick example printed "+0.3 pp (95% interval -64.1 to +64.7, 2 paired seeds)"."""
    records = (_runs(NONE, [0.95, 0.95, 0.951], [0.95, 0.953, 0.949])
               + _runs(_cfg(names.L2, names.ACTIVITY, 0.01), [0.99, 0.99, 0.991], [0.96, 0.955, 0.957]))
    rec, verdict = _answer(records)
    assert verdict.gain.n == 2 and not verdict.helped and verdict.gain_fields()["gain_interval_pp"] is None
    assert verdict.headline.startswith("No regularizer is proven to help: too few paired seeds to tell"), verdict.headline
    assert "too few paired seeds to tell (2)" in verdict.headline and "interval -" not in verdict.headline
    assert "within noise" not in verdict.headline, "two seeds cannot show a gain is noise either"


def test_a_penalty_ahead_on_validation_but_within_noise_on_test_is_not_called_better():
    records = (_runs(NONE, [0.950, 0.952, 0.948, 0.951], [0.960, 0.950, 0.965, 0.958])
               + _runs(_cfg(names.L2, names.ACTIVITY, 0.01), [0.985, 0.987, 0.984, 0.986], [0.962, 0.955, 0.965, 0.957]))
    rec, verdict = _answer(records, seeds=4)
    assert rec[names.REGULARIZER] == names.L2, "+0.1 pp on the confirmation seeds: the better estimate"
    assert not verdict.helped
    assert verdict.headline.startswith("L2 on activity, λ=0.01 measured +0.1 pp (95% interval"), verdict.headline
    assert verdict.headline.endswith(": not proven; it is the better estimate, and the two are within noise.")


def test_edge_caveat_when_the_best_lambda_sits_at_the_edge_of_the_range():
    records = (_runs(NONE, [0.95, 0.95, 0.95, 0.95], [0.95, 0.951, 0.949, 0.95])
               + _runs(_cfg(names.L2, names.ACTIVITY, 0.09), [0.99, 0.992, 0.989, 0.99], [0.98, 0.983, 0.978, 0.981]))
    _, verdict = _answer(records, seeds=4)
    assert verdict.helped
    assert any("HIGH edge" in c for c in verdict.caveats)


def test_few_trials_and_collapse_caveats():
    records = (_runs(NONE, [0.95, 0.95, 0.95], [0.95, 0.951, 0.949])
               + _runs(_cfg(names.L2, names.ACTIVITY, 0.01), [0.99, 0.99, 0.99], [0.98, 0.981, 0.979])
               + _runs(_cfg(names.L2, names.KERNEL, 0.001), [0.96], [0.95])
               + _runs(_cfg(names.L1, names.KERNEL, 0.003), [0.1], [0.1], state=names.STATE_COLLAPSED)
               + _runs(_cfg(names.L1, names.KERNEL, 0.05), [0.1], [0.1], state=names.STATE_COLLAPSED))
    _, verdict = _answer(records)
    assert "L1 on kernel collapsed to chance accuracy in 2 trials, at λ from 0.003 to 0.05" in verdict.caveats
    assert any(c.startswith("too few trials of L1: 0 ran the full budget") for c in verdict.caveats)
    assert not any(c.startswith("too few trials of L2") for c in verdict.caveats), "L2 has 2 finished search trials"
    assert "caveat: L1 on kernel collapsed" in verdict.text()
    assert "- L1 on kernel collapsed" in verdict.markdown("s")


def test_a_collapse_is_stated_where_it_was_seen_not_for_every_larger_lambda_or_other_placement():
    """The quick example said "L1 collapsed to chance accuracy at λ ≥ 0.01 (1 trial)" from L1 on kernel and
    bias at 0.01, while L1 on activity at 0.01 trained: the caveat names the placement and the λ seen."""
    records = (_runs(NONE, [0.95, 0.95, 0.95], [0.95, 0.951, 0.949])
               + _runs(_cfg(names.L2, names.ACTIVITY, 0.01), [0.99, 0.99, 0.99], [0.98, 0.981, 0.979])
               + _runs(_cfg(names.L1, names.ACTIVITY, 0.01), [0.25], [0.25])
               + _runs(_cfg(names.L1, names.KERNEL_BIAS, 0.01), [0.1], [0.1], state=names.STATE_COLLAPSED))
    _, verdict = _answer(records)
    collapses = [c for c in verdict.caveats if "collapsed" in c]
    assert collapses == ["L1 on kernel and bias collapsed to chance accuracy at λ=0.01 (1 trial)"], collapses


def test_worse_is_said_only_when_the_race_found_it_at_its_boundary():
    """Paired test differences -0.9, -1.2, -0.6 pp at seeds 1-3 (t = -5.2, 2 df, one-sided p 0.017): the
    plain 95% interval (-1.6 to -0.2 pp) lies below 0, but with looks at 3 and 9 an interim look needs
    p < 0.0005, so the race did not find it worse and the headline does not say so; with one look at 3
    (p < 0.025) it did, and the headline says "proven worse"."""
    records = (_runs(NONE, [0.95] * 4, [0.950, 0.951, 0.949, 0.950])
               + _runs(_cfg(names.L2, names.ACTIVITY, 0.01), [0.951] * 4, [0.951, 0.942, 0.937, 0.944]))
    _, interim = _answer(records, looks=(3, 9))
    assert interim.gain.high < 0, "the plain interval is below 0"
    assert "worse" not in interim.headline, interim.headline
    assert interim.headline.startswith("Keep no regularization: no penalty is proven to help"), interim.headline
    _, last = _answer(records)
    assert last.headline.startswith("Keep no regularization: the best penalty, L2 on activity, λ=0.01, measured -0.9 pp")
    assert last.headline.endswith("; it is proven worse."), last.headline


def test_binomial_floor_keeps_one_seed_from_looking_certain():
    """Configs with no shared confirmation seeds (one seed each) tie within 2 binomial standard errors
    of the split's 287 validation examples. Known answers, worked by hand:
    sqrt((0.97 x 0.03 + 0.968 x 0.032) / 287) = sqrt(0.060076 / 287) = 0.0144680."""
    def one_seed(val: float) -> dict:
        return {"n_seeds": 1, "val_mean": val, "val_sd": float("nan")}

    assert ranking.diff_se(one_seed(0.97), one_seed(0.968), "val", N_VAL) == pytest.approx(0.0144680, abs=5e-7)
    assert ranking.tied(one_seed(0.97), one_seed(0.968), N_VAL), "one validation example apart is noise"
    # 2 SE of 0.97 against 0.935 is 0.03539, of 0.97 against 0.934 is 0.03556: the line falls between
    assert ranking.tied(one_seed(0.97), one_seed(0.935), N_VAL), "3.5 points apart: within 2 SE (3.54)"
    assert not ranking.tied(one_seed(0.97), one_seed(0.934), N_VAL), "3.6 points apart: beyond 2 SE (3.56)"


def test_configs_that_share_confirmation_seeds_tie_on_their_paired_differences():
    """Validation differences +0.3, +0.2, +0.4 pp at seeds 1-3: small, but paired they are consistent."""
    a = _cfg(names.L2, names.ACTIVITY, 0.01)
    b = _cfg(names.L2, names.ACTIVITY, 0.001)
    table = trials_table(_runs(a, [0.970, 0.973, 0.972, 0.974], [0.9] * 4)
                         + _runs(b, [0.970, 0.970, 0.970, 0.970], [0.9] * 4))
    stats = ranking.config_stats(table)
    best, other = stats.iloc[0], stats.iloc[1]
    assert not ranking.tied(best, other, N_VAL, table), "paired: the best is ahead at every seed"
    assert ranking.tied(best, other, N_VAL), "unpaired (binomial floor): within noise"
