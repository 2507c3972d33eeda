"""The verdict's statistics on synthetic paired draws with known answers: the interval equals
Student's t by hand, covers the true gain at its level, calls an A/A comparison "helped" at most at
the one-sided rate (1 - confidence) / 2, and finds a real gain when the seeds are enough."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sweep.stats.paired import paired_difference

REPS = 4000


def _draws(rng: np.random.Generator, n: int, gain: float, seed_sd: float = 0.01, diff_sd: float = 0.004):
    """Per seed: a shared seed effect (both configs move together) plus independent noise."""
    shared = rng.normal(0.95, seed_sd, size=n)
    base = shared + rng.normal(0.0, diff_sd / math.sqrt(2), size=n)
    cand = shared + gain + rng.normal(0.0, diff_sd / math.sqrt(2), size=n)
    return dict(enumerate(cand)), dict(enumerate(base))


def test_the_interval_is_students_t_on_the_differences():
    a = {1: 0.971, 2: 0.968, 3: 0.975, 4: 0.970}
    b = {1: 0.962, 2: 0.963, 3: 0.964, 4: 0.960, 5: 0.999}  # seed 5 has no partner: left out
    d = np.array([0.009, 0.005, 0.011, 0.010])
    half = stats.t.ppf(0.975, 3) * d.std(ddof=1) / 2
    got = paired_difference(a, b, 0.95)
    assert got.n == 4 and got.mean == pytest.approx(d.mean())
    assert (got.low, got.high) == pytest.approx((d.mean() - half, d.mean() + half))
    assert got.above_zero and got.decided


def test_the_interval_covers_the_true_gain_at_its_level():
    rng = np.random.default_rng(0)
    for n, level in ((3, 0.95), (5, 0.9)):
        covered = 0
        for _ in range(REPS):
            a, b = _draws(rng, n, gain=0.01)
            d = paired_difference(a, b, level)
            covered += d.low <= 0.01 <= d.high
        rate = covered / REPS
        assert abs(rate - level) < 3 * math.sqrt(level * (1 - level) / REPS) + 0.005, (n, level, rate)


@pytest.mark.parametrize("n", [2, 3, 5, 10])
def test_an_aa_comparison_is_called_helped_at_most_at_the_one_sided_rate(n):
    """Two labels of the same config (a no-op penalty): "helped" in at most 2.5% of repetitions at 95%."""
    rng = np.random.default_rng(n)
    helped = sum(paired_difference(*_draws(rng, n, gain=0.0), 0.95).above_zero for _ in range(REPS))
    rate = helped / REPS
    assert rate <= 0.025 + 3 * math.sqrt(0.025 * 0.975 / REPS), rate
    assert rate >= 0.025 - 3 * math.sqrt(0.025 * 0.975 / REPS), "the test is exact, not merely conservative"


def test_a_real_gain_is_found_with_enough_paired_seeds_and_pairing_is_what_finds_it():
    """+0.9 pp with a seed-to-seed spread of 1 pp shared by both configs: pairing removes that spread."""
    rng = np.random.default_rng(1)
    found = paired_unpaired = 0
    for _ in range(500):
        a, b = _draws(rng, 4, gain=0.009)
        found += paired_difference(a, b, 0.95).above_zero
        x, y = np.array(list(a.values())), np.array(list(b.values()))
        paired_unpaired += stats.ttest_ind(x, y, equal_var=False, alternative="greater").pvalue < 0.025
    assert found / 500 > 0.8, found
    assert paired_unpaired / 500 < 0.3, "Welch's unpaired test throws the pairing's power away"


def test_fewer_than_two_seeds_or_no_spread_give_no_interval():
    one = paired_difference({1: 0.99}, {1: 0.90}, 0.95)
    assert one.n == 1 and one.low == -math.inf and one.high == math.inf and not one.above_zero
    assert "1 paired seed: too few for a 95% interval" in one.words()
    none = paired_difference({1: 0.99}, {2: 0.90}, 0.95)
    assert none.n == 0 and math.isnan(none.mean) and not none.decided
    # the same +1 pp at both seeds: the spread is unmeasured, not zero, so two seeds claim nothing
    flat = paired_difference({1: 0.97, 2: 0.98}, {1: 0.96, 2: 0.97}, 0.95)
    assert flat.mean == pytest.approx(0.01) and flat.low == -math.inf and not flat.above_zero and not flat.decided
    assert "2 paired seeds with the same difference: no spread measured" in flat.words()
    # the same one example of 360 at both seeds, as Keras reports it (float32): the differences differ
    # by 6e-8, which made a point interval "-0.3 to -0.3" and "worse than no regularization" from 2 seeds
    f32 = {1: float(np.float32(350 / 360)), 2: float(np.float32(349 / 360))}
    base = {1: float(np.float32(351 / 360)), 2: float(np.float32(350 / 360))}
    one_example = paired_difference(f32, base, 0.95)
    assert one_example.low == -math.inf and not one_example.decided, one_example.words()
    spread = paired_difference({1: 0.97, 2: 0.98, 3: 0.975}, {1: 0.96, 2: 0.97, 3: 0.96}, 0.95)
    assert math.isfinite(spread.low) and spread.n == 3
