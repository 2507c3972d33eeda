"""The removable fraction: largest share of kernel weights pruned (smallest |w| first) within tolerance."""

from __future__ import annotations

import numpy as np
import pytest

from trainables.metrics.removable import STEPS, removable_fraction


def _model():
    import keras

    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(100, name="dense")])
    rng = np.random.default_rng(0)
    kernel = rng.permutation(np.arange(1, 801, dtype=np.float32)).reshape(8, 100) * rng.choice([-1, 1], (8, 100))
    model.get_layer("dense").kernel.assign(kernel)
    return model, kernel


def _zeros(model) -> float:
    return float(np.mean(np.asarray(model.get_layer("dense").kernel) == 0))


def test_the_largest_fraction_that_keeps_accuracy_is_found_and_the_weights_are_put_back():
    model, kernel = _model()
    # accuracy holds until more than 30% of the weights are gone, then falls by 5 points
    evaluate = lambda: 0.9 if _zeros(model) <= 0.30 else 0.85  # noqa: E731
    got = removable_fraction(model, evaluate, evaluate(), tolerance=0.01, chance=0.1)
    assert 0.30 - 1 / 2 ** STEPS <= got <= 0.30
    np.testing.assert_array_equal(np.asarray(model.get_layer("dense").kernel), kernel)
    # a looser tolerance accepts the 5-point loss: nearly everything goes
    assert removable_fraction(model, evaluate, evaluate(), tolerance=0.06, chance=0.1) >= 1 - 2 / 2 ** STEPS


def test_a_model_at_chance_has_nothing_removable_whatever_its_weights():
    model, _ = _model()
    assert removable_fraction(model, lambda: 0.1, 0.1, tolerance=0.01, chance=0.12) == 0.0
    assert removable_fraction(model, lambda: float("nan"), float("nan"), tolerance=0.01, chance=0.12) == 0.0


def test_smallest_weights_go_first():
    model, kernel = _model()
    seen: list[float] = []

    def evaluate() -> float:
        w = np.abs(np.asarray(model.get_layer("dense").kernel))
        removed = np.abs(kernel)[w == 0]
        kept = np.abs(kernel)[w != 0]
        if removed.size:
            assert removed.max() < kept.min()
        seen.append(removed.size)
        return 0.9

    assert removable_fraction(model, evaluate, 0.9, tolerance=0.0, chance=0.1) == pytest.approx(1 - 1 / 2 ** STEPS, abs=2e-3)
    assert len(seen) == STEPS, "one validation pass per bisection step: the unpruned accuracy is given"
