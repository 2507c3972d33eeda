"""Sequential confirmation: paired seeds in rounds, a look after each, stop once the answer is clear.

A fixed number of confirmation seeds is too many for a clear case (a collapse, a +3 pp gain) and
too few for a close one. So confirmation runs in rounds: the first trains the baseline and each
candidate at ``search.confirm_seeds - 1`` fresh paired seeds, each later round adds one more seed,
up to ``search.confirm_max_seeds - 1``. After each round every candidate's paired test gain over the
baseline is looked at; the race stops once each remaining candidate is decided (its interval wholly
above or below 0), and drops a candidate decided below the baseline, or behind the validation leader.

Looking several times inflates the error of a fixed-level interval, so each look uses the per-look
level of the plan (``sweep.stats.sequential``), chosen so that the chance of any look deciding wrongly,
when there is no effect, is the overall ``1 - search.confidence``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sweep.stats.paired import PairedDifference, paired_difference
from sweep.common.labels import config_label
from sweep.report.ranking import seed_values
from trainables import names

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
            if gain.decided and gain.high < 0:
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
