"""The sequential plan of confirmation: the looks (paired seeds after each round) and the per-look
level that keeps the chance of any wrong decision, over all looks, at ``1 - confidence``.

Pocock's constant nominal level, found for Student's t statistics themselves by simulating the planned
looks on normal differences (the same assumption as the t interval; seeded, so it is the same number
every time): Pocock's own constants are for normal statistics with known variance, and with 2-6 seeds
the t distribution matters.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from sweep.stats.paired import MIN_PAIRED_SEEDS


#: Monte Carlo sequences behind each Pocock level: its standard error is about 0.0003 at level 0.05.
POCOCK_SIMULATIONS = 200_000


@dataclass(frozen=True)
class Plan:
    """The planned looks: how many paired (fresh) seeds each candidate has after each round."""

    looks: tuple[int, ...]

    @classmethod
    def from_search(cls, confirm_seeds: int, confirm_max_seeds: int) -> "Plan":
        """``confirm_seeds`` and ``confirm_max_seeds`` count the search trial's own seed; it is never
        paired (the winner's curse), so the looks are at ``confirm_seeds - 1`` fresh seeds, then one more
        each round, up to ``confirm_max_seeds - 1``."""
        first, last = confirm_seeds - 1, max(confirm_seeds, confirm_max_seeds) - 1
        return cls(tuple(range(first, last + 1)) if first >= 1 else ())

    def new_seeds(self, round_index: int) -> list[int]:
        """Seed offsets (from train.seed) that round ``round_index`` (0-based) trains."""
        before = self.looks[round_index - 1] if round_index else 0
        return list(range(before + 1, self.looks[round_index] + 1))


@functools.lru_cache(maxsize=64)
def look_confidence(looks: tuple[int, ...], confidence: float, simulations: int = POCOCK_SIMULATIONS) -> float:
    """Pocock's per-look confidence for Student's t intervals at ``looks`` paired seeds: the overall
    chance that any look's interval misses a true gain of 0 is ``1 - confidence``."""
    from scipy import stats

    alpha = 1.0 - confidence
    looks = tuple(n for n in looks if n >= MIN_PAIRED_SEEDS)  # a look with fewer seeds decides nothing
    if len(looks) <= 1:
        return confidence
    rng = np.random.default_rng(20261126)
    draws = rng.standard_normal((simulations, looks[-1]))
    counts = np.asarray(looks)
    sums, squares = np.cumsum(draws, axis=1)[:, counts - 1], np.cumsum(draws ** 2, axis=1)[:, counts - 1]
    means = sums / counts
    sds = np.sqrt(np.maximum(squares - counts * means ** 2, 1e-300) / (counts - 1))
    t = np.abs(means) / (sds / np.sqrt(counts))
    smallest_p = (2 * stats.t.sf(t, counts - 1)).min(axis=1)  # a sequence errs if any look's p is small
    return 1.0 - float(np.quantile(smallest_p, alpha))
