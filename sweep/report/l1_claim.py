"""The article's headline claim, measured: does L1 give removable weights where L2 does not?

The article says L1 drives weights to exactly zero, so it yields sparse, prunable models, while L2
only shrinks them. A sweep that has the figures answers it at equal accuracy, since any penalty can
make a model sparse by ruining it:

- the candidates are the completed trials whose validation accuracy is within
  ``search.accuracy_tolerance`` of the best completed trial's;
- among them, the L1 or elastic-net trial that removes the most weights (``names.REMOVABLE``: the
  fraction pruning removes while validation accuracy stays within the same tolerance) is set against
  the L2 trial that removes the most;
- **holds** when the L1 side removes at least ``MARGIN`` more of the weights; **fails** when it does
  not, or when no L1 or elastic-net trial reached that accuracy although enough finished;
- **cannot tell** when L1 and elastic net finished (completed, above chance) at fewer than
  ``MIN_LAMBDAS`` distinct L1 strengths (λ, or λ × l1_ratio for elastic net), or no L2 trial finished:
  one strength (L1 at λ=0.01 and elastic net at λ=0.02, l1_ratio=0.5, after 4 epochs) says nothing of
  the strength at which L1 would sparsify without losing accuracy.

Each figure is one trained model at one weight seed (the seed is printed): a single-sweep reading,
not a test, so a difference under ``MARGIN`` counts as no difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import pandas as pd

from trainables import names

#: The claim holds when the L1 side removes at least this much more of the weights (5 points).
MARGIN = 0.05
#: Distinct L1 strengths (``l1_strengths``) at which L1 or elastic net must finish before the sweep answers.
MIN_LAMBDAS = 2
#: The penalties on the claim's L1 side.
L1_SIDE = (names.L1, names.ELASTIC_NET)
HOLDS, FAILS, CANNOT_TELL = "holds", "fails", "cannot tell"


@dataclass
class L1Answer:
    """The answer and the two trials behind it."""

    outcome: str
    """holds, fails or cannot tell."""
    reason: str
    l1: Optional[pd.Series]
    """The L1 or elastic-net trial within the tolerance that removes the most (None if none)."""
    l2: Optional[pd.Series]
    """The L2 trial within the tolerance that removes the most (None if none)."""
    best_val: float
    tolerance: float


def l1_answer(table: pd.DataFrame, tolerance: float) -> Optional[L1Answer]:
    """The claim's answer over the completed trials of ``table``; None when the trials carry no
    removable fraction (results written before it existed)."""
    if table.empty or names.REMOVABLE not in table:
        return None
    done = table[table[names.COL_STATE] == names.STATE_COMPLETED].copy()
    for col in (names.VAL_ACCURACY, names.REMOVABLE):
        done[col] = pd.to_numeric(done[col], errors="coerce")
    done = done.dropna(subset=[names.VAL_ACCURACY, names.REMOVABLE])
    if done.empty:
        return None
    best_val = float(done[names.VAL_ACCURACY].max())
    near = done[done[names.VAL_ACCURACY] >= best_val - tolerance - 1e-12]
    l1_done = done[done[names.REGULARIZER].isin(L1_SIDE)]
    l1, l2 = _sparsest(near[near[names.REGULARIZER].isin(L1_SIDE)]), _sparsest(near[near[names.REGULARIZER] == names.L2])
    within = f"within {tolerance * 100:g} pp of the best val_accuracy {best_val:.4f}"
    lambdas = l1_strengths(l1_done).round(12).nunique()
    if lambdas < MIN_LAMBDAS:
        finished = (f"L1 and elastic net finished at {lambdas} L1 strength{'s' if lambdas != 1 else ''} "
                    f"({len(l1_done)} trial{'s' if len(l1_done) != 1 else ''})" if len(l1_done) else
                    "no L1 or elastic-net trial finished (completed above chance)")
        return L1Answer(CANNOT_TELL, f"{finished}; it takes {MIN_LAMBDAS} L1 strengths, counting elastic net's "
                        "λ × l1_ratio: raise search.num_samples or search.patience, or add "
                        "search.objectives=[val_accuracy,sparsity]", l1, l2, best_val, tolerance)
    if l2 is None:
        return L1Answer(CANNOT_TELL, f"no L2 trial finished {within}", l1, l2, best_val, tolerance)
    if l1 is None:
        best_l1 = l1_done.sort_values(names.VAL_ACCURACY, ascending=False).iloc[0]
        return L1Answer(FAILS, f"none of the {len(l1_done)} L1 or elastic-net trials that finished came {within} "
                        f"(the best reached {float(best_l1[names.VAL_ACCURACY]):.4f})", best_l1, l2, best_val,
                        tolerance)
    gain = float(l1[names.REMOVABLE]) - float(l2[names.REMOVABLE])
    if gain >= MARGIN:
        return L1Answer(HOLDS, f"at equal accuracy L1's side removes {gain * 100:+.0f} points more of the weights",
                        l1, l2, best_val, tolerance)
    return L1Answer(FAILS, f"at equal accuracy L1's side removes {gain * 100:+.0f} points of the weights against "
                    f"L2 (under the {MARGIN * 100:g}-point margin, or fewer)", l1, l2, best_val, tolerance)


def l1_strengths(rows: pd.DataFrame) -> pd.Series:
    """The L1 coefficient each row trained with: λ for L1, λ × l1_ratio for elastic net (Keras's
    ``L1L2(l1=λ·r, l2=λ·(1-r))``). Elastic net at λ=0.02, l1_ratio=0.5 is L1 at 0.01 plus some L2: it
    tells nothing of a second λ beside L1 at 0.01."""
    lam = pd.to_numeric(rows[names.LAMBDA], errors="coerce")
    ratio = (pd.to_numeric(rows[names.L1_RATIO], errors="coerce") if names.L1_RATIO in rows
             else pd.Series(float("nan"), index=rows.index))
    # a table without the ratio (hand-made, or older results) counts elastic net's λ as it stands
    strength = lam.where(rows[names.REGULARIZER] != names.ELASTIC_NET, lam * ratio.fillna(1.0)).dropna()
    return strength[strength > 0]  # elastic net at l1_ratio=0 is L2


def _sparsest(rows: pd.DataFrame) -> Optional[pd.Series]:
    if rows.empty:
        return None
    return rows.sort_values([names.REMOVABLE, names.VAL_ACCURACY], ascending=False).iloc[0]


def render(answer: L1Answer, describe: Callable[[pd.Series], str]) -> str:
    """The verdict's section: the question, the answer, and the figures behind it (``describe`` names
    the trial, its config and its seed)."""
    claim = "the article's claim that L1 gives removable weights"
    said = (f"This sweep cannot tell whether {claim} holds" if answer.outcome == CANNOT_TELL else
            f"{claim[0].upper()}{claim[1:]} {answer.outcome}")
    lines = [f"At equal accuracy (within {answer.tolerance * 100:g} pp of the best), which penalty removes the most "
             f"weights? {said}: {answer.reason}."]
    for side, row in (("L1 / elastic net", answer.l1), ("L2", answer.l2)):
        if row is not None:
            lines.append(f"  {side + ':':<18}{describe(row)}: val {float(row[names.VAL_ACCURACY]):.4f}, "
                         f"{float(row[names.REMOVABLE]):.0%} of the weights removable")
    return "\n".join(lines)
