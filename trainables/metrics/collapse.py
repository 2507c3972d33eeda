"""Collapse: a trial whose validation accuracy stays at chance level has nothing left to learn.

A strong L1 penalty can push every weight to zero within the first epochs; such a trial then sits at
chance accuracy for the rest of its budget. ASHA does not catch it when nothing better has reached
its rung yet, so the trial checks itself: after ``collapse_after`` epochs, validation accuracy no
better than guessing the most frequent class (plus two binomial standard errors, so one lucky
example does not count as learning) ends the trial as ``collapsed``.
"""

from __future__ import annotations

import math

import numpy as np

#: Standard errors above the chance rate that still count as chance.
CHANCE_MARGIN_SE = 2.0


def chance_ceiling(y_val: np.ndarray, n_classes: int) -> float:
    """The highest validation accuracy that is still chance level for these labels."""
    n = max(1, len(y_val))
    counts = np.bincount(np.asarray(y_val, dtype=np.int64), minlength=max(1, n_classes))
    chance = max(1.0 / max(1, n_classes), float(counts.max()) / n if len(y_val) else 0.0)
    return chance + CHANCE_MARGIN_SE * math.sqrt(chance * (1.0 - chance) / n)


def is_collapsed(val_accuracy: float, epoch: int, ceiling: float, after: int) -> bool:
    """True once ``epoch`` >= ``after`` (0 = never) and the accuracy is at chance level."""
    return after > 0 and epoch >= after and math.isfinite(val_accuracy) and val_accuracy <= ceiling
