"""Is the sparsity real: zeroing the small kernel weights of a model with known weights."""

from __future__ import annotations

import numpy as np
import pytest

from trainables import names
from trainables.metrics.pruning import PRUNE_THRESHOLDS, pruned_accuracy, pruning_metrics


def known_model():
    """Dense(2 -> 2), no bias: class = argmax(x @ W). W's large entries decide; its tiny ones
    (1e-5) change nothing; the 0.05 entry decides only the examples built for it."""
    import keras

    model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(2, use_bias=False, name="d")])
    model.get_layer("d").kernel.assign(np.array([[1.0, 1e-5], [1e-5, 0.05]], dtype="float32"))
    return model


def accuracy_of(model, x, y):
    return lambda: float(np.mean(np.argmax(np.asarray(model(x)), axis=1) == y))


def test_removing_tiny_weights_keeps_accuracy_and_removing_a_used_one_costs_it():
    model = known_model()
    # class 0 when x0 dominates; class 1 only through the 0.05 weight (x0 = 0)
    x = np.array([[1.0, 0.0], [2.0, 1.0], [0.0, 1.0], [0.0, 3.0]], dtype="float32")
    y = np.array([0, 0, 1, 1])
    before = np.asarray(model.get_layer("d").kernel).copy()
    acc, removed = pruned_accuracy(model, accuracy_of(model, x, y), threshold=1e-3)
    assert (acc, removed) == (1.0, 0.5), "the two 1e-5 weights go, nothing depended on them"
    acc, removed = pruned_accuracy(model, accuracy_of(model, x, y), threshold=0.1)
    assert removed == 0.75 and acc == 0.5, "the 0.05 weight carried class 1: without it, ties go to class 0"
    np.testing.assert_array_equal(np.asarray(model.get_layer("d").kernel), before), "weights put back"


def test_the_metrics_hold_the_value_at_the_threshold_and_the_whole_curve():
    model = known_model()
    x = np.array([[1.0, 0.0], [0.0, 1.0]], dtype="float32")
    metrics = pruning_metrics(model, accuracy_of(model, x, np.array([0, 1])), threshold=1e-3)
    assert metrics[names.TEST_ACCURACY_PRUNED] == 1.0 and metrics[names.PRUNED_FRACTION] == 0.5
    assert metrics[names.pruning_metric(names.PRUNING_REMOVED, 0.1)] == 0.75
    assert metrics[names.pruning_metric(names.PRUNING_ACCURACY, 0.1)] == 0.5
    assert all(names.is_trial_metric(k) for k in metrics)
    assert len(metrics) == 2 + 2 * len(PRUNE_THRESHOLDS)
    assert names.pruning_metric(names.PRUNING_ACCURACY, 1e-4) == "pruning/test_accuracy_at_0.0001"
