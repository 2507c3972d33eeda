"""Sparsity figures on hand-built weights: exact numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trainables import names
from trainables.metrics.sparsity import activation_sparsity, kernel_sparsity


def test_kernel_sparsity_exact_on_hand_built_weights():
    kernels = {
        "a": np.array([[0.0, 5e-4], [-2e-3, 1.0]]),       # 2 of 4 below 1e-3
        "b": np.array([0.0, 0.0, 0.0, -1e-4, 0.5, 3.0]),  # 4 of 6 below 1e-3
    }
    report = kernel_sparsity(kernels, threshold=1e-3)
    assert report.per_layer == {"a": 0.5, "b": pytest.approx(4 / 6)}
    assert report.overall == pytest.approx(6 / 10)
    assert report.l1_norm == pytest.approx(5e-4 + 2e-3 + 1.0 + 1e-4 + 0.5 + 3.0)
    assert report.l2_norm == pytest.approx(math.sqrt(5e-4**2 + 2e-3**2 + 1 + 1e-4**2 + 0.25 + 9))
    metrics = report.as_metrics()
    assert metrics[names.SPARSITY] == pytest.approx(0.6)
    assert metrics["sparsity/a"] == 0.5 and metrics[names.KERNEL_L1_NORM] == report.l1_norm


def test_threshold_is_strict_and_must_be_positive():
    assert kernel_sparsity({"x": np.array([1e-3, 9.99e-4])}, 1e-3).overall == 0.5
    with pytest.raises(ValueError):
        kernel_sparsity({"x": np.zeros(3)}, 0.0)


def test_activation_sparsity_counts_exact_zeros_only():
    acts = [np.array([[0.0, 1.0], [0.0, 1e-9]]), np.array([0.0, 2.0, 0.0, 0.0])]
    assert activation_sparsity(acts) == pytest.approx(5 / 8)
    assert activation_sparsity([]) == 0.0
