"""The sparsity that counts: how many weights can go before the model gets worse.

Weight sparsity at a fixed threshold rewards a model that is merely small-valued, or one at chance
level whose weights penalties have crushed. What a user can act on is the fraction of weights that
pruning removes while the model keeps its accuracy. So: sort every kernel weight by |w| (global
magnitude pruning, the usual first pruning method), and find by bisection the largest fraction that
can be zeroed with validation accuracy within ``tolerance`` of the unpruned model's. The search
assumes accuracy falls as more weights go (it does for magnitude pruning, up to noise); each step is
one validation pass, ``STEPS`` of them, so the answer is exact to 1/2**STEPS. A model at chance level
has no accuracy to keep and counts 0, so it can never win a sparsity objective.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from trainables.metrics.pruning import pruned_accuracy
from trainables.model.rebuild import kernel_weights

#: Bisection steps, each one validation pass: the fraction is known to 1/64.
STEPS = 6


def removable_fraction(model: Any, evaluate: Callable[[], float], base: float, tolerance: float,
                       chance: float) -> float:
    """The largest fraction of kernel weights whose removal (smallest |w| first) keeps ``evaluate()``
    within ``tolerance`` of ``base``, the unpruned model's value (the epoch's val_accuracy, already
    measured); 0 when ``base`` is not finite or at or below ``chance``. The model's weights are
    unchanged afterwards."""
    if not np.isfinite(base) or base <= chance:
        return 0.0
    magnitudes = np.sort(np.concatenate([np.abs(np.asarray(w)).ravel() for w in kernel_weights(model).values()]))
    if magnitudes.size == 0:
        return 0.0
    keeps, low, high = 0.0, 0.0, 1.0
    for _ in range(STEPS):
        mid = (low + high) / 2
        threshold = float(np.nextafter(magnitudes[min(magnitudes.size - 1, int(mid * magnitudes.size))], np.inf))
        accuracy, removed = pruned_accuracy(model, evaluate, threshold)
        if accuracy >= base - tolerance - 1e-12:
            low, keeps = mid, max(keeps, removed)
        else:
            high = mid
    return keeps
