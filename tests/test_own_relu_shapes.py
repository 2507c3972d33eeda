"""The activation-sparsity probe takes any number of ReLU layers, 0 included, in Sequential and
functional models. With one ReLU layer the probe model returned a tensor, not a list, and every
trial of such a model errored at epoch 0 (``OperatorNotAllowedInGraphError``)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests import own_models
from trainables import names
from trainables.model.source import ModelSource

#: model function -> how many ReLU outputs the probe must count (0: none, the figure is NaN)
SHAPES = {
    "one_relu_layer_bn": 1,
    "one_relu_argument_sequential": 1,
    "one_relu_layer_sequential": 1,
    "gelu_only": 0,
    "mlp": 2,
    "resnet_block": 3,
}


def _data():
    from trainables.data.types import DataSpec
    from trainables.data.user import make_dataset

    rng = np.random.default_rng(0)
    return make_dataset({"x_train": rng.normal(size=(200, 12)).astype("float32"),
                         "y_train": np.arange(200) % own_models.N_CLASSES}, DataSpec(name="npz"), "arrays.npz")


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_the_probe_counts_the_zeros_of_every_relu_output(name):
    import keras

    from trainables.metrics.sparsity import model_activation_sparsity, relu_layers

    model = getattr(own_models, name)()
    shape = (8, 8, 1) if name == "resnet_block" else (12,)
    x = np.random.default_rng(1).normal(size=(16, *shape)).astype("float32")
    assert len(relu_layers(model)) == SHAPES[name]
    value = model_activation_sparsity(model, x)
    if SHAPES[name] == 0:
        assert math.isnan(value)
        return
    outputs = keras.Model(model.inputs, [layer.output for layer in relu_layers(model)])(x)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    expected = sum(int(np.sum(np.asarray(o) == 0)) for o in outputs) / sum(np.asarray(o).size for o in outputs)
    assert value == pytest.approx(expected)
    assert 0.0 < value < 1.0


@pytest.mark.parametrize("name", ["one_relu_layer_bn", "one_relu_argument_sequential", "one_relu_layer_sequential",
                                  "gelu_only"])
def test_a_trial_of_each_relu_shape_completes(name):
    from trainables.settings import TrainSettings
    from trainables.trainable import run_trial

    src = ModelSource(target=f"tests.own_models:{name}", n_classes=own_models.N_CLASSES, input_shape=(12,),
                      input_dtype="float32")
    config = {names.REGULARIZER: names.L1, names.PLACEMENT: names.ACTIVITY, names.LAMBDA: 1e-3}
    last = run_trial(config, _data(), TrainSettings(epochs=1, batch_size=32, collapse_after=0, threads=1),
                     lambda metrics, ckpt: None, source=src)
    assert last[names.FINISHED] == 1.0 and names.TEST_ACCURACY in last
    sparsity = last[names.ACTIVATION_SPARSITY]
    assert math.isnan(sparsity) if name == "gelu_only" else 0.0 <= sparsity <= 1.0
