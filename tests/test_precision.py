"""Mixed precision trains: every penalty is summed in float32, whatever the layers compute in.

Before, each trial under ``mixed_float16`` or ``mixed_bfloat16`` errored at epoch 0: the reused
model's variable penalties came out in the compute dtype and the loss could not add them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from trainables import names
from trainables.settings import TrainSettings


@pytest.fixture
def float32_after():
    """The global Keras policy back to float32 afterwards: a mixed policy would leak into other tests."""
    import keras

    yield
    keras.mixed_precision.set_global_policy("float32")


def test_a_penalty_is_float32_and_finite_on_float16_inputs_past_its_range():
    import keras

    from trainables.model.reusable import _penalty_class

    penalty = _penalty_class()()
    x = keras.ops.full((1000,), 60000.0, dtype="float16")  # sum 6e7, far past float16's 65,504
    penalty.set(1e-4, 1e-6)
    value = penalty(x)
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    assert float(value) == pytest.approx(1e-4 * 6e7 + 1e-6 * 1000 * 60000.0 ** 2, rel=1e-3)
    penalty.set(0.0, 0.0)
    unused = penalty(x)
    assert keras.backend.standardize_dtype(unused.dtype) == "float32" and float(unused) == 0.0, "0 * sum must be 0, not NaN"


@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("placement", [names.KERNEL_BIAS, names.ACTIVITY])
def test_both_mixed_precisions_complete_a_digits_trial_on_the_cpu(digits, precision, placement, float32_after):
    from trainables.trainable import run_trial

    reports = []
    config = {names.REGULARIZER: names.L2, names.PLACEMENT: placement, names.LAMBDA: 1e-3}
    last = run_trial(config, digits, TrainSettings(epochs=1, batch_size=64, collapse_after=0, threads=2,
                                                   precision=precision),
                     lambda metrics, ckpt: reports.append(metrics))
    assert len(reports) == 1 and last[names.FINISHED] == 1.0
    assert math.isfinite(last[names.LOSS]) and last[names.DIVERGED] == 0.0
    assert last[names.VAL_ACCURACY] > 0.3, "one epoch of digits is well above chance (0.1)"
    assert np.isfinite(last[names.TEST_ACCURACY])


def test_mixed_float16_with_activity_placements_is_accepted():
    from sweep.config.compose import load_config

    cfg = load_config(["train.precision=mixed_float16", "search.placements=[activity]"])
    assert str(cfg.train.precision) == "mixed_float16"
