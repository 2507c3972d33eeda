"""Sequential confirmation: paired seeds in rounds, a look after each, stop once the answer is clear.

A fixed number of confirmation seeds is too many for a clear case (a collapse, a +3 pp gain) and
too few for a close one. So confirmation runs in rounds: the first trains the baseline and each
candidate at ``search.confirm_seeds - 1`` fresh paired seeds, each later round adds one more seed,
up to ``search.confirm_max_seeds - 1``. After each round every candidate's paired test gain over the
baseline is looked at; the race stops once each remaining candidate is decided (its interval wholly
above or below 0), and drops a candidate decided below the baseline, or behind the validation leader.

Looking several times inflates the error of a fixed-level interval, so each look uses Pocock's
constant nominal level: one level for every look, chosen so that the chance of any look deciding
wrongly, when there is no effect, is the overall ``1 - search.confidence``. Pocock's constants are
for normal statistics with known variance; with 2-6 seeds Student's t matters, so the level here is
found for the t statistics themselves, by simulating the planned looks on normal differences (the
same assumption as the t interval; seeded, so it is the same number every time).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sweep.report.paired import PairedDifference, paired_difference
from sweep.report.ranking import config_label, seed_values
from trainables import names

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
    looks = tuple(n for n in looks if n >= 2)  # a look at one seed has no interval and decides nothing
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


@dataclass
class Race:
    """The candidates still in the race against the baseline, and why the others left."""

    baseline: Any
    candidates: list[Any]
    confidence: float
    level: float
    """Per-look confidence (Pocock) of every interval the race computes."""
    dropped: dict[str, str] = field(default_factory=dict)
    """Candidate label -> why it left the race."""

    def alive(self) -> list[Any]:
        return [c for c in self.candidates if _label(c) not in self.dropped]

    def gain(self, table: pd.DataFrame, candidate: Any) -> PairedDifference:
        """The candidate's paired test gain over the baseline on the confirmation seeds so far."""
        return paired_difference(seed_values(table, candidate, names.TEST_ACCURACY, names.PHASE_CONFIRM),
                                 seed_values(table, self.baseline, names.TEST_ACCURACY, names.PHASE_CONFIRM),
                                 self.confidence, level=self.level)

    def look(self, table: pd.DataFrame) -> bool:
        """Update the race after a round; True when it is over (every candidate left is decided)."""
        gains = {_label(c): self.gain(table, c) for c in self.alive()}  # each computed once per look
        for label, gain in gains.items():
            if gain.n >= 2 and gain.high < 0:
                self.dropped[label] = f"worse than no regularization ({gain.words()})"
        alive = self.alive()
        if len(alive) > 1:
            val = {_label(c): seed_values(table, c, names.VAL_ACCURACY, names.PHASE_CONFIRM) for c in alive}
            leader = max(alive, key=lambda c: np.mean(list(val[_label(c)].values())) if val[_label(c)] else -1.0)
            for c in alive:
                if c is leader:
                    continue
                behind = paired_difference(val[_label(leader)], val[_label(c)], self.confidence, level=self.level)
                if behind.above_zero:
                    self.dropped[_label(c)] = f"behind {_label(leader)} on validation ({behind.words()})"
        return all(gains[_label(c)].decided for c in self.alive())


def _label(row: Any) -> str:
    return config_label(row)
