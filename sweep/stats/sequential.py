"""The sequential plan of confirmation: the looks (paired seeds after each round), the boundary each
look tests against, and the futility rule that stops a confirmation that cannot decide.

**Boundary: Haybittle–Peto, calibrated for Student's t.** An interim look claims "helped" only at a
one-sided p below ``INTERIM_P`` (0.0005); the last look tests at a nominal level found by simulating
the planned looks on normal differences (seeded, so it is the same number every time), so that the
chance of any look claiming "helped" when the true gain is 0 is exactly the one-sided ``alpha``. The
interim looks spend almost nothing, so the last look keeps nearly the whole level and its power: with
looks at 3, 4 and 5 paired seeds and alpha 0.025 the last tests at about 0.0242. Pocock's constant
level, used before, spent a third of the budget on looks at 2-3 seeds that had almost no power.
No look comes before ``MIN_PAIRED_SEEDS`` paired seeds.

**Futility.** After an interim look, the conditional power of the last look (the chance that it claims
"helped" if the true gain and spread are the ones measured so far, with the spread taken as known) is
computed; below ``FUTILITY_POWER`` the candidate stops. This only ever removes claims, so it cannot raise
the false "helped" rate. ``seeds_needed`` says how many paired seeds a one-look test would need, at the
measured gain and spread, for 80% power (the non-central t).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from sweep.stats.paired import MIN_PAIRED_SEEDS, PairedDifference

#: Monte Carlo sequences behind each calibrated last-look level: its standard error is about 0.0003 at 0.025.
SIMULATIONS = 200_000
#: Haybittle–Peto's interim level (one-sided): an interim look claims only an overwhelming gain.
INTERIM_P = 0.0005
#: A candidate whose conditional power at the last look falls below this stops for futility.
FUTILITY_POWER = 0.10
#: How a futility stop's reason begins (``Claim.left``).
FUTILE = "futile: "
#: How a candidate's reason begins when the race found it below 0 at its boundary (``Claim.left``).
WORSE = "worse than no regularization"
#: The power ``seeds_needed`` plans for.
PLANNED_POWER = 0.80
#: ``seeds_needed`` looks no further than this many paired seeds.
MOST_SEEDS = 1000


@dataclass(frozen=True)
class Plan:
    """The planned looks: how many paired (fresh) seeds each candidate has after each round."""

    looks: tuple[int, ...]

    @classmethod
    def from_search(cls, confirm_seeds: int, confirm_max_seeds: int) -> "Plan":
        """``confirm_seeds`` and ``confirm_max_seeds`` count the search trial's own seed; it is never
        paired (the winner's curse), so the looks are at ``confirm_seeds - 1`` fresh seeds, then one more
        each round, up to ``confirm_max_seeds - 1``. No look comes before ``MIN_PAIRED_SEEDS``: a first
        round planned at fewer trains that many (two seeds leave Student's t one degree of freedom)."""
        if confirm_seeds < 2:
            return cls(())
        first = max(confirm_seeds - 1, MIN_PAIRED_SEEDS)
        last = max(first, confirm_max_seeds - 1)
        return cls(tuple(range(first, last + 1)))

    def new_seeds(self, round_index: int) -> list[int]:
        """Seed offsets (from train.seed) that round ``round_index`` (0-based) trains."""
        before = self.looks[round_index - 1] if round_index else 0
        return list(range(before + 1, self.looks[round_index] + 1))


@dataclass
class Claim:
    """Where one candidate stands after the latest look it took part in."""

    gain: PairedDifference
    """Its paired test gain over the baseline at the latest look, with the plain interval at the sweep's
    confidence (what the verdict shows; the claim itself is its one-sided p against the boundary)."""
    helped: bool = False
    """The claim was made: the one-sided p of the gain is below the boundary of its look (and Holm's step)."""
    left: str = ""
    """Why it left the race without the claim ('' while it races, or once it is claimed)."""
    seeds_needed: Optional[int] = None
    """After a futility stop: paired seeds a one-look test would need at the gain and spread measured."""


@dataclass(frozen=True)
class Boundary:
    """The one-sided p each look must go below to claim "helped", for looks ``looks`` at ``alpha``."""

    looks: tuple[int, ...]
    alpha: float
    final_p: float
    interim_p: float = INTERIM_P

    def p_at(self, n: int) -> float:
        """The one-sided level of the look at ``n`` paired seeds (the last look's, or the interim one)."""
        return self.final_p if not self.looks or n >= self.looks[-1] else self.interim_p

    def confidence_at(self, n: int) -> float:
        """The two-sided confidence of the interval that decides at ``n`` seeds: its low end is above 0
        exactly when the one-sided p is below ``p_at(n)``."""
        return 1.0 - 2.0 * self.p_at(n)


@functools.lru_cache(maxsize=256)
def haybittle_peto(looks: tuple[int, ...], alpha: float, interim_p: float = INTERIM_P,
                   simulations: int = SIMULATIONS) -> Boundary:
    """Haybittle–Peto for Student's t at ``looks`` paired seeds: interim looks at ``interim_p``, the last
    at the level that makes the chance of any look claiming a gain of 0 exactly ``alpha`` (one-sided)."""
    from scipy import stats

    looks = tuple(n for n in looks if n >= MIN_PAIRED_SEEDS)
    if len(looks) <= 1:
        return Boundary(looks, alpha, alpha, interim_p)
    rng = np.random.default_rng(20261207)
    draws = rng.standard_normal((simulations, looks[-1]))
    counts = np.asarray(looks)
    sums, squares = np.cumsum(draws, axis=1)[:, counts - 1], np.cumsum(draws ** 2, axis=1)[:, counts - 1]
    means = sums / counts
    sds = np.sqrt(np.maximum(squares - counts * means ** 2, 1e-300) / (counts - 1))
    p = stats.t.sf(means / (sds / np.sqrt(counts)), counts - 1)  # one-sided p of each look
    crossed = (p[:, :-1] < interim_p).any(axis=1)
    final = np.where(crossed, 0.0, p[:, -1])  # a sequence that crossed early has claimed already
    return Boundary(looks, alpha, float(np.quantile(final, alpha)), interim_p)


def conditional_power(differences: Sequence[float], last_look: int, final_p: float) -> float:
    """The chance that the last look (``last_look`` paired seeds, one-sided level ``final_p``) claims
    "helped", given the ``differences`` so far, if the gain and spread are the ones measured (the spread
    taken as known: the usual conditional power under the current trend)."""
    from scipy import stats

    d = np.asarray(differences, dtype=float)
    n, left = len(d), last_look - len(d)
    mean = float(d.mean())
    sd = float(d.std(ddof=1)) if n >= 2 else 0.0
    if left <= 0:
        return float("nan")
    if sd <= 0.0:
        return 1.0 if mean > 0 else 0.0
    critical = stats.t.ppf(1.0 - final_p, last_look - 1) * sd / math.sqrt(last_look)  # the mean the last look needs
    needed = (critical * last_look - n * mean) / left  # the mean the seeds left must average
    return float(stats.norm.sf((needed - mean) / (sd / math.sqrt(left))))


def seeds_needed(gain: float, sd: float, alpha: float, power: float = PLANNED_POWER,
                 most: int = MOST_SEEDS) -> Optional[int]:
    """Paired seeds a one-look paired t test at one-sided ``alpha`` needs for ``power`` against a true
    ``gain`` with spread ``sd`` (the non-central t); None when the gain is not above 0 or more than
    ``most`` would be needed."""
    from scipy import stats

    if not gain > 0:
        return None
    if not sd > 0:  # no spread measured: the fewest seeds a test is made from
        return MIN_PAIRED_SEEDS
    for n in range(MIN_PAIRED_SEEDS, most + 1):
        if stats.nct.sf(stats.t.ppf(1.0 - alpha, n - 1), n - 1, gain / sd * math.sqrt(n)) >= power:
            return n
    return None
