"""Paired comparisons of two configs over the seeds they share: the verdict's statistics.

At each confirmation seed, two configs get the same initial weights, data order, dropout draws and
test examples, so what varies between them is the per-seed difference. The gain is the mean of those
differences, with a t interval (``scipy.stats.ttest_rel``: Student's t on the paired differences,
assuming they are independent across seeds and roughly normal). Only confirmation seeds count: the
search trial was picked as the best of many on validation, so its own figure is biased upwards
(the winner's curse) and is never averaged into the gain.

No interval comes from fewer than ``MIN_PAIRED_SEEDS`` (3) paired seeds, and nothing is called better
or worse from them: two seeds leave Student's t one degree of freedom, whose 97.5% quantile is 12.7, so
their "95% interval" of a gain was about ±64 pp on the README's quick example, which helps nobody. The
same holds when every paired difference is the same (test accuracy moves in steps of one example, so
that happens with few seeds): no spread is measured, and a zero spread would turn a few seeds into a
certain claim. Every interval lies within what accuracies allow: a gain of ``a - b`` over accuracies
in [0, 1] is between ``-mean(b)`` and ``1 - mean(b)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np

#: The fewest paired seeds an interval (and a decision) comes from.
MIN_PAIRED_SEEDS = 3


@dataclass(frozen=True)
class PairedDifference:
    """``a - b`` over the seeds both have: the mean and its two-sided interval at ``confidence``."""

    mean: float
    low: float
    high: float
    n: int
    """Paired seeds behind the figures."""
    confidence: float
    sd: float = float("nan")
    """The spread (sample sd) of the per-seed differences."""
    p_greater: float = float("nan")
    """One-sided p of Student's t that ``a - b`` is above 0 (NaN without an interval)."""

    @property
    def p_positive(self) -> float:
        """P(gain > 0) under a flat prior on the mean and the log spread with normal differences: the
        posterior of the mean is then Student's t about the measured mean, so this is ``1 - p_greater``."""
        return 1.0 - self.p_greater

    @property
    def measured(self) -> bool:
        """True when there is an interval: enough paired seeds, with a spread."""
        return self.n >= 2 and math.isfinite(self.low) and math.isfinite(self.high)

    @property
    def decided(self) -> bool:
        """True when the interval is measured and lies wholly on one side of 0."""
        return self.measured and (self.low > 0 or self.high < 0)

    @property
    def above_zero(self) -> bool:
        """``a`` beats ``b``: the whole interval is above 0 (a one-sided test at (1 + confidence) / 2)."""
        return self.measured and self.low > 0

    def words(self, scale: float = 100.0, unit: str = "pp", seeds: str = "paired seeds") -> str:
        """``+0.9 pp (95% interval +0.4 to +1.4, 4 paired seeds)``; ``seeds`` names what was paired
        (the verdict says ``paired seeds, each on its own split``)."""
        level = f"{100 * self.confidence:g}%"
        if self.n < MIN_PAIRED_SEEDS:
            mean = "no figure" if math.isnan(self.mean) else f"{scale * self.mean:+.1f} {unit}"
            return f"{mean} (too few paired seeds to tell ({self.n}): a {level} interval needs {MIN_PAIRED_SEEDS})"
        if math.isinf(self.low):
            return (f"{scale * self.mean:+.1f} {unit} ({self.n} {seeds} with the same difference: no spread "
                    f"measured, so no {level} interval)")
        return (f"{scale * self.mean:+.1f} {unit} ({level} interval {scale * self.low:+.1f} to {scale * self.high:+.1f}, "
                f"{self.n} {seeds})")


#: Paired differences closer than this are the same count of test examples: Keras reports accuracy in
#: float32, whose rounding (6e-8 near 1) made the same one-example difference at two seeds look like
#: two values with a tiny spread, a point interval and a certain claim. One example is 1e-5 of a
#: 100,000-example test split, far above it.
SAME_DIFFERENCE = 1e-6


def paired_difference(a: Mapping[int, float], b: Mapping[int, float], confidence: float,
                      level: float | None = None, min_seeds: int = MIN_PAIRED_SEEDS) -> PairedDifference:
    """``a - b`` over the seeds (keys) both hold (accuracies in [0, 1]), with Student's t interval on the
    differences from ``MIN_PAIRED_SEEDS`` seeds on, cut to what accuracies allow. ``level``: the interval's
    own confidence when it is one of several looks (``sweep.stats.sequential``: wider than ``confidence``,
    which stays the level the words state). ``min_seeds``: fewer seeds than this give no interval; only the
    ranking's tie rule on validation (``sweep.report.ranking.tied``) asks for an interval from 2."""
    from scipy import stats

    seeds = sorted(set(a) & set(b))
    x = np.array([float(a[s]) for s in seeds])
    y = np.array([float(b[s]) for s in seeds])
    n = len(seeds)
    if n < max(2, min_seeds):
        mean = float((x - y).mean()) if n else float("nan")
        return PairedDifference(mean, -math.inf, math.inf, n, confidence,
                                float((x - y).std(ddof=1)) if n >= 2 else float("nan"))
    diff = x - y
    mean = float(diff.mean())
    if np.allclose(diff, diff[0], rtol=0.0, atol=SAME_DIFFERENCE):
        # no spread measured: test accuracy moves in steps of one example, so a few seeds often give the
        # same difference, and a zero sample spread would make a point interval and a certain claim
        # from two seeds; the spread is unknown, so no interval is given (more seeds decide)
        return PairedDifference(mean, -math.inf, math.inf, n, confidence, 0.0)
    test = stats.ttest_rel(x, y)
    interval = test.confidence_interval(confidence_level=level or confidence)
    floor, ceiling = -float(y.mean()), 1.0 - float(y.mean())  # a_s - b_s lies in [-b_s, 1 - b_s]
    p_greater = float(stats.t.sf(float(test.statistic), n - 1))
    return PairedDifference(mean, max(float(interval.low), floor), min(float(interval.high), ceiling), n, confidence,
                            float(diff.std(ddof=1)), p_greater)
