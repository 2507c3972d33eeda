"""Sequential confirmation: paired seeds in rounds, a look after each, one pre-specified claim.

The claim is "helped": a candidate's paired gain in test accuracy over no regularization, on the
confirmation seeds only (each seed on its own train/validation/test split), is above 0 by a one-sided
Student's t test. Nothing else gates it. Its error is held at ``alpha = (1 - search.confidence) / 2``:

- **over the looks**, by a Haybittle–Peto boundary calibrated for t (``sweep.stats.sequential``): interim
  looks claim only at p < 0.0005, the last at nearly the whole ``alpha``;
- **over the candidates**, by Holm's step-down: at each look the open candidates are ordered by p, the
  first is tested at the boundary for ``alpha / m`` (``m``: candidates not yet claimed), the next at
  ``alpha / (m - 1)``, ..., stopping at the first that fails (with group-sequential boundaries, as in
  Maurer and Bretz's sequentially rejective designs, 2013). The family-wise rate of a false "helped"
  stays at most ``alpha`` whatever the number of candidates.

A candidate leaves the race when its interval lies wholly below 0 (worse), when it is behind the
validation leader beyond the same interval (only where several race), or for futility: the chance that
the last look would claim, at the gain and spread measured so far, is below 10%. Leaving never claims,
so none of these can raise the false "helped" rate. The race ends when no candidate is left open.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import numpy as np
import pandas as pd

from sweep.common.labels import config_label
from sweep.report.ranking import seed_values
from sweep.stats.paired import MIN_PAIRED_SEEDS, PairedDifference, paired_difference
from sweep.stats.sequential import (FUTILE, FUTILITY_POWER, WORSE, Boundary, Claim, conditional_power, haybittle_peto,
                                    seeds_needed)
from trainables import names

Seeds = Mapping[int, float]


@dataclass
class Race:
    """The candidates against the baseline over the planned looks, and where each stands."""

    baseline: Any
    candidates: list[Any]
    confidence: float
    looks: tuple[int, ...]
    """Paired seeds after each planned round (the plan cut to what the budget affords)."""
    futility: float = FUTILITY_POWER
    """A candidate whose conditional power falls below this at an interim look stops (0: never)."""
    claims: dict[str, Claim] = field(default_factory=dict)
    """Candidate label -> its latest standing."""

    @property
    def alpha(self) -> float:
        """The one-sided level of the family: the chance of any false "helped"."""
        return (1.0 - self.confidence) / 2.0

    def boundary(self, share: int = 1) -> Boundary:
        """The boundary of one hypothesis tested at ``alpha / share`` (Holm's step)."""
        return haybittle_peto(self.looks, self.alpha / max(1, share))

    @property
    def dropped(self) -> dict[str, str]:
        """Candidate label -> why it left the race without the claim."""
        return {label: c.left for label, c in self.claims.items() if c.left}

    def open(self) -> list[Any]:
        """Candidates still to decide: the next round trains these (and the baseline)."""
        return [c for c in self.candidates if not self._claim_of(c).left and not self._claim_of(c).helped]

    def _claim_of(self, candidate: Any) -> Claim:
        return self.claims.get(config_label(candidate)) or Claim(PairedDifference(float("nan"), -np.inf, np.inf, 0,
                                                                                  self.confidence))

    def look(self, table: pd.DataFrame) -> bool:
        """Update the race after a round from the trials table; True when no candidate is left open."""
        base = seed_values(table, self.baseline, names.TEST_ACCURACY, names.PHASE_CONFIRM)
        racing = self.open()
        tests = {config_label(c): seed_values(table, c, names.TEST_ACCURACY, names.PHASE_CONFIRM) for c in racing}
        vals = ({config_label(c): seed_values(table, c, names.VAL_ACCURACY, names.PHASE_CONFIRM) for c in racing}
                if len(racing) > 1 else {})  # the leader rule needs two
        return self.look_values(base, tests, vals)

    def look_values(self, base: Seeds, tests: Mapping[str, Seeds], vals: Optional[Mapping[str, Seeds]] = None) -> bool:
        """The look itself on seed -> accuracy maps: ``tests`` by candidate label (every open candidate),
        ``vals`` their validation accuracies (for the leader rule; optional). True when none is open."""
        open_labels = [config_label(c) for c in self.open()]
        m = len(self.candidates) - sum(c.helped for c in self.claims.values())
        plain = {label: paired_difference(tests[label], base, self.confidence) for label in open_labels}
        order = sorted(open_labels, key=lambda label: _p(plain[label]))
        stepping = True
        for rank, label in enumerate(order):
            bound = self.boundary(m - rank)
            gain = plain[label]
            n, p_at = gain.n, bound.p_at(gain.n)
            claim = Claim(gain)
            if stepping and gain.measured and gain.n >= MIN_PAIRED_SEEDS and gain.p_greater <= p_at:
                claim.helped = True
            else:
                stepping = False  # Holm: the first that fails ends the step-down
                if gain.measured and 1.0 - gain.p_greater <= p_at:  # as sure it is below 0
                    claim.left = f"{WORSE} ({gain.words()})"
                elif self.looks and n >= MIN_PAIRED_SEEDS and n < self.looks[-1] and gain.measured:
                    differences = [tests[label][s] - base[s] for s in sorted(set(tests[label]) & set(base))]
                    power = conditional_power(differences, self.looks[-1], bound.final_p)
                    if power < self.futility:
                        claim.seeds_needed = seeds_needed(gain.mean, gain.sd, bound.final_p)
                        claim.left = (f"{FUTILE}at {n} paired seeds the chance that {self.looks[-1]} would show a "
                                      f"gain is {100 * power:.0f}% (below {100 * self.futility:g}%), if the gain "
                                      "and spread measured so far are the true ones; "
                                      f"{_needed_words(claim.seeds_needed, gain)}")
            self.claims[label] = claim
        self._drop_behind_the_leader(vals or {})
        return not self.open()

    def _drop_behind_the_leader(self, vals: Mapping[str, Seeds]) -> None:
        """Where several open candidates race, one behind the validation leader beyond the last look's
        interval leaves (it saves their rounds; it claims nothing)."""
        still = [config_label(c) for c in self.open() if config_label(c) in vals]
        if len(still) < 2:
            return
        leader = max(still, key=lambda label: np.mean(list(vals[label].values())) if vals[label] else -1.0)
        level = self.boundary(len(still)).confidence_at(self.looks[-1] if self.looks else 0)
        for label in still:
            if label == leader:
                continue
            behind = paired_difference(vals[leader], vals[label], self.confidence, level=level)
            if behind.above_zero:
                self.claims[label].left = f"behind {leader} on validation ({behind.words()})"


def _p(gain: PairedDifference) -> float:
    return gain.p_greater if gain.measured else 1.0


def _needed_words(needed: Optional[int], gain: PairedDifference) -> str:
    """How many paired seeds it would take, in words."""
    if gain.mean <= 0:
        return "at the measured gain (not above 0) no number of seeds would show one"
    if needed is None:
        return (f"showing {100 * gain.mean:+.1f} pp at the spread measured (sd {100 * gain.sd:.1f} pp) would take "
                f"more than 1000 paired seeds")
    return (f"showing {100 * gain.mean:+.1f} pp at the spread measured (sd {100 * gain.sd:.1f} pp) would take "
            f"about {needed} paired seeds (80% power)")
