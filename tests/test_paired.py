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


@pytest.mark.parametrize("n", [3, 5, 10])
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


def test_fewer_than_three_seeds_or_no_spread_give_no_interval():
    one = paired_difference({1: 0.99}, {1: 0.90}, 0.95)
    assert one.n == 1 and one.low == -math.inf and one.high == math.inf and not one.above_zero
    assert "too few paired seeds to tell (1): a 95% interval needs 3" in one.words()
    none = paired_difference({1: 0.99}, {2: 0.90}, 0.95)
    assert none.n == 0 and math.isnan(none.mean) and not none.decided
    # two seeds: Student's t on one degree of freedom; the README's quick example printed
    # "+0.3 pp (95% interval -64.1 to +64.7, 2 paired seeds)"
    two = paired_difference({1: 0.975, 2: 0.98}, {1: 0.96, 2: 0.977}, 0.95)
    assert two.n == 2 and two.mean == pytest.approx(0.009) and not two.measured and not two.decided
    assert "too few paired seeds to tell (2): a 95% interval needs 3" in two.words() and "interval -" not in two.words()
    # the same +1 pp at every seed: the spread is unmeasured, not zero, so the seeds claim nothing
    flat = paired_difference({1: 0.97, 2: 0.98, 3: 0.975}, {1: 0.96, 2: 0.97, 3: 0.965}, 0.95)
    assert flat.mean == pytest.approx(0.01) and flat.low == -math.inf and not flat.above_zero and not flat.decided
    assert "3 paired seeds with the same difference: no spread measured" in flat.words()
    # the same one example of 360 at each seed, as Keras reports it (float32): the differences differ
    # by 6e-8, which made a point interval "-0.3 to -0.3" and "worse than no regularization"
    f32 = {1: float(np.float32(350 / 360)), 2: float(np.float32(349 / 360)), 3: float(np.float32(348 / 360))}
    base = {1: float(np.float32(351 / 360)), 2: float(np.float32(350 / 360)), 3: float(np.float32(349 / 360))}
    one_example = paired_difference(f32, base, 0.95)
    assert one_example.low == -math.inf and not one_example.decided, one_example.words()
    spread = paired_difference({1: 0.97, 2: 0.98, 3: 0.975}, {1: 0.96, 2: 0.97, 3: 0.96}, 0.95)
    assert math.isfinite(spread.low) and spread.n == 3


def test_an_interval_lies_within_what_accuracies_allow():
    """A gain over a baseline at 99% cannot exceed +1 pp, nor fall below -99 pp."""
    high = paired_difference({1: 1.0, 2: 0.99, 3: 1.0}, {1: 0.99, 2: 0.985, 3: 0.995}, 0.95)
    assert high.high <= 1.0 - np.mean([0.99, 0.985, 0.995]) + 1e-12 and high.low <= high.mean <= high.high
    low = paired_difference({1: 0.0, 2: 0.3, 3: 0.0}, {1: 0.2, 2: 0.1, 3: 0.2}, 0.95)
    assert low.low >= -np.mean([0.2, 0.1, 0.2]) - 1e-12
    unbounded = stats.ttest_rel([0.0, 0.3, 0.0], [0.2, 0.1, 0.2]).confidence_interval(0.95)
    assert unbounded.low < low.low, "the cut is real: Student's t alone reaches below -mean(b)"
