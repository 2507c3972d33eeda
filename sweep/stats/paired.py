"""Paired comparisons of two configs over the seeds they share: the verdict's statistics.

At each confirmation seed, two configs get the same initial weights, data order, dropout draws and
test examples, so what varies between them is the per-seed difference. The gain is the mean of those
differences, with a t interval (``scipy.stats.ttest_rel``: Student's t on the paired differences,
assuming they are independent across seeds and roughly normal). Only confirmation seeds count: the
search trial was picked as the best of many on validation, so its own figure is biased upwards
(the winner's curse) and is never averaged into the gain. With fewer than two paired seeds there is
no spread to measure, so no interval is given and nothing is called better; the same holds when every paired difference is the
same (test accuracy moves in steps of one example, so that happens with few seeds): no spread is
measured, and a zero spread would turn two seeds into a certain claim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np


@dataclass(frozen=True)
class PairedDifference:
    """``a - b`` over the seeds both have: the mean and its two-sided interval at ``confidence``."""

    mean: float
    low: float
    high: float
    n: int
    """Paired seeds behind the figures."""
    confidence: float

    @property
    def decided(self) -> bool:
        """True when the interval is measured (two or more seeds) and lies wholly on one side of 0."""
        return self.n >= 2 and (self.low > 0 or self.high < 0)

    @property
    def above_zero(self) -> bool:
        """``a`` beats ``b``: the whole interval is above 0 (a one-sided test at (1 + confidence) / 2)."""
        return self.n >= 2 and self.low > 0

    def words(self, scale: float = 100.0, unit: str = "pp") -> str:
        """``+0.9 pp (95% interval +0.4 to +1.4, 4 paired seeds)``."""
        level = f"{100 * self.confidence:g}%"
        if self.n < 2:
            mean = "no figure" if math.isnan(self.mean) else f"{scale * self.mean:+.1f} {unit}"
            return f"{mean} ({self.n} paired seed{'s' if self.n != 1 else ''}: too few for a {level} interval)"
        if math.isinf(self.low):
            return (f"{scale * self.mean:+.1f} {unit} ({self.n} paired seeds with the same difference: no spread "
                    f"measured, so no {level} interval)")
        return (f"{scale * self.mean:+.1f} {unit} ({level} interval {scale * self.low:+.1f} to {scale * self.high:+.1f}, "
                f"{self.n} paired seeds)")


#: Paired differences closer than this are the same count of test examples: Keras reports accuracy in
#: float32, whose rounding (6e-8 near 1) made the same one-example difference at two seeds look like
#: two values with a tiny spread, a point interval and a certain claim. One example is 1e-5 of a
#: 100,000-example test split, far above it.
SAME_DIFFERENCE = 1e-6


def paired_difference(a: Mapping[int, float], b: Mapping[int, float], confidence: float,
                      level: float | None = None) -> PairedDifference:
    """``a - b`` over the seeds (keys) both hold, with Student's t interval on the differences.
    ``level``: the interval's own confidence when it is one of several looks (``sweep.confirm.sequential``:
    wider than ``confidence``, which stays the level the words state)."""
    from scipy import stats

    seeds = sorted(set(a) & set(b))
    x = np.array([float(a[s]) for s in seeds])
    y = np.array([float(b[s]) for s in seeds])
    n = len(seeds)
    if n < 2:
        mean = float(x[0] - y[0]) if n else float("nan")
        return PairedDifference(mean, -math.inf, math.inf, n, confidence)
    diff = x - y
    mean = float(diff.mean())
    if np.allclose(diff, diff[0], rtol=0.0, atol=SAME_DIFFERENCE):
        # no spread measured: test accuracy moves in steps of one example, so a few seeds often give the
        # same difference, and a zero sample spread would make a point interval and a certain claim
        # from two seeds; the spread is unknown, so no interval is given (more seeds decide)
        return PairedDifference(mean, -math.inf, math.inf, n, confidence)
    interval = stats.ttest_rel(x, y).confidence_interval(confidence_level=level or confidence)
    return PairedDifference(mean, float(interval.low), float(interval.high), n, confidence)
