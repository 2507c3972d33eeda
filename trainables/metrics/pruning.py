"""Is the sparsity real? Zero the small kernel weights of the trained model and test it again.

A penalty can push weights towards zero without making them removable: the model may still lean on
the many tiny ones. At the end of a completed trial every kernel weight (kernels, embeddings: the
weights sparsity is measured on) with |w| below the threshold is set to exactly zero, the test split
is evaluated again, and the weights are put back (the final checkpoint holds the trained model).
Done at ``train.sparsity_threshold`` (``test_accuracy_pruned``, ``pruned_fraction``) and across
``PRUNE_THRESHOLDS`` for the accuracy-against-fraction-removed curve of the summary.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from trainables import names
from trainables.model.rebuild import kernel_weights

#: The thresholds of the pruning curve (|w| below each is removed).
PRUNE_THRESHOLDS = (1e-4, 1e-3, 1e-2, 3e-2, 1e-1)


def pruned_accuracy(model: Any, evaluate: Callable[[], float], threshold: float) -> tuple[float, float]:
    """(test accuracy with every kernel weight |w| < threshold set to 0, fraction of weights removed);
    the model's weights are unchanged afterwards."""
    weights = list(kernel_weights(model).values())
    originals = [np.asarray(w) for w in weights]
    total = sum(o.size for o in originals)
    removed = 0
    try:
        for weight, original in zip(weights, originals):
            small = np.abs(original) < threshold
            removed += int(small.sum())
            weight.assign(np.where(small, np.zeros_like(original), original))
        accuracy = float(evaluate())
    finally:
        for weight, original in zip(weights, originals):
            weight.assign(original)
    return accuracy, (removed / total if total else 0.0)


def pruning_metrics(model: Any, evaluate: Callable[[], float], threshold: float) -> dict[str, float]:
    """``test_accuracy_pruned`` and ``pruned_fraction`` at ``threshold``, and the curve's points."""
    accuracy, fraction = pruned_accuracy(model, evaluate, threshold)
    metrics = {names.TEST_ACCURACY_PRUNED: accuracy, names.PRUNED_FRACTION: fraction}
    for t in PRUNE_THRESHOLDS:
        acc_t, frac_t = (accuracy, fraction) if t == threshold else pruned_accuracy(model, evaluate, t)
        metrics[names.pruning_metric(names.PRUNING_ACCURACY, t)] = acc_t
        metrics[names.pruning_metric(names.PRUNING_REMOVED, t)] = frac_t
    return metrics
