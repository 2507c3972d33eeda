"""The process's reused compiled model trains exactly like a freshly built one, without retracing."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from trainables import names
from trainables.model.regularizers import RegularizerSpec
from trainables.settings import TrainSettings
from trainables.trainable import checkpoint_model, run_trial

FAST = TrainSettings(epochs=2, batch_size=64, threads=2, collapse_after=0)
L1_KERNEL_BIAS = {names.REGULARIZER: names.L1, names.PLACEMENT: names.KERNEL_BIAS, names.LAMBDA: 1e-3}
L2_ACTIVITY = {names.REGULARIZER: names.L2, names.PLACEMENT: names.ACTIVITY, names.LAMBDA: 1e-2}
ELASTIC_KERNEL = {names.REGULARIZER: names.ELASTIC_NET, names.PLACEMENT: names.KERNEL, names.LAMBDA: 1e-2,
                  names.L1_RATIO: 0.3}

CURVE = (names.LOSS, names.ACCURACY, names.VAL_LOSS, names.VAL_ACCURACY, names.KERNEL_L1_NORM)


def _curve(digits, config, settings=FAST):
    reports = []
    run_trial(config, digits, settings, lambda m, c: reports.append(m))
    return [tuple(m[k] for k in CURVE) for m in reports]


@pytest.fixture
def empty_pool():
    from trainables.model import reusable

    reusable._POOL.clear()
    yield reusable._POOL
    reusable._POOL.clear()


def test_a_trial_after_other_trials_trains_exactly_as_in_a_new_process(digits, empty_pool):
    first = _curve(digits, L2_ACTIVITY)
    assert len(empty_pool) == 1
    model = next(iter(empty_pool.values())).model
    traced = model.train_function
    _curve(digits, L1_KERNEL_BIAS)  # other penalties, other weights, optimizer state, dropout seeds
    _curve(digits, ELASTIC_KERNEL)
    again = _curve(digits, L2_ACTIVITY)
    assert again == first, "state of earlier trials leaked into a later one"
    assert len(empty_pool) == 1 and model.train_function is traced, "the compiled model was rebuilt"


@pytest.mark.parametrize("config", [L1_KERNEL_BIAS, L2_ACTIVITY, ELASTIC_KERNEL, {names.REGULARIZER: names.NONE}])
def test_the_reused_model_starts_where_build_model_starts_with_the_same_penalty(digits, empty_pool, config):
    import keras

    from trainables.model.seed_cnn import build_model
    from trainables.model.reusable import trial_model
    from trainables.trainable import default_source
    from trainables.settings import TrainSettings

    spec = RegularizerSpec.from_trial_config(config)
    _curve(digits, L1_KERNEL_BIAS)  # the pool holds a model another trial has trained
    keras.utils.set_random_seed(7)
    fresh = build_model(digits.n_classes, spec)
    keras.utils.set_random_seed(7)
    reused = trial_model(default_source(digits, TrainSettings()), spec, "float32")
    for a, b in zip(fresh.variables, reused.variables, strict=True):  # a missing variable fails
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    x = digits.x_val[:32].astype("float32") / 255.0
    fresh(x, training=False), reused(x, training=False)
    penalty = float(sum(float(v) for v in fresh.losses))
    assert float(sum(float(v) for v in reused.losses)) == pytest.approx(penalty, rel=1e-6)
    assert (penalty > 0) == (spec.kind != names.NONE)


def test_a_checkpoint_rebuilds_a_plain_keras_model_with_the_trials_penalty(digits, empty_pool, tmp_path):
    import shutil

    import keras

    saved = tmp_path / "ckpt"

    def keep(metrics, ckpt):
        if ckpt:
            shutil.rmtree(saved, ignore_errors=True)
            shutil.copytree(ckpt, saved)

    last = run_trial(L2_ACTIVITY, digits, replace(FAST, epochs=1), keep)
    model = checkpoint_model(str(saved))
    dense = model.get_layer("dense1")
    assert isinstance(dense.activity_regularizer, keras.regularizers.L2)
    assert dense.kernel_regularizer is None
    assert float(dense.activity_regularizer.l2) == pytest.approx(1e-2)
    x, y = digits.x_test.astype("float32") / 255.0, digits.y_test
    acc = float(np.mean(np.argmax(model.predict(x, verbose=0), axis=1) == y))
    assert acc == pytest.approx(last[names.TEST_ACCURACY], abs=1e-6)


def test_a_checkpoint_of_the_earlier_format_still_resumes_and_logs(digits, empty_pool, tmp_path):
    """Sweeps started before checkpoints held only variables resume from their ``model.keras``."""
    import json

    import keras

    from trainables.model.seed_cnn import build_model
    from trainables.model.reusable import LEGACY_MODEL_FILE
    from trainables.trainable import PROGRESS_FILE

    old = tmp_path / "old"
    old.mkdir()
    keras.utils.set_random_seed(0)
    model = build_model(digits.n_classes, RegularizerSpec.from_trial_config(L2_ACTIVITY))
    model.fit(digits.x_train[:256].astype("float32") / 255.0, digits.y_train[:256], epochs=1, verbose=0)
    model.save(old / LEGACY_MODEL_FILE)
    (old / PROGRESS_FILE).write_text(json.dumps({names.EPOCH: 1}))
    reports = []
    run_trial(L2_ACTIVITY, digits, FAST, lambda m, c: reports.append(m), restore_dir=str(old))
    assert [m[names.EPOCH] for m in reports] == [2.0], "it went on from epoch 1"
    logged = checkpoint_model(str(old))
    np.testing.assert_array_equal(logged.get_layer("conv1").kernel.numpy(), model.get_layer("conv1").kernel.numpy())
