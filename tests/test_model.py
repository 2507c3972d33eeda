"""The seed CNN matches the article exactly."""

from __future__ import annotations

import pytest

from trainables.model.seed_cnn import build_model
from trainables.model.regularizers import RegularizerSpec


@pytest.mark.parametrize("n_classes, params", [(47, 440_751), (10, 431_242)])
def test_parameter_count_matches_the_article(n_classes, params):
    import keras

    keras.backend.clear_session()
    model = build_model(n_classes, RegularizerSpec("l2", "kernel_bias", 0.01))
    assert model.count_params() == params


def test_layer_sequence_and_compile_settings():
    import keras

    keras.backend.clear_session()
    model = build_model(47, RegularizerSpec())
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Conv2D", "MaxPooling2D", "Dropout", "Conv2D", "MaxPooling2D", "Dropout",
                     "Flatten", "Dense", "Dense"]
    conv1, conv2 = model.get_layer("conv1"), model.get_layer("conv2")
    assert (conv1.filters, conv1.kernel_size, conv2.filters) == (32, (3, 3), 64)
    assert model.get_layer("drop1").rate == 0.25 and model.get_layer("dense1").units == 256
    assert model.get_layer("output").activation.__name__ == "softmax"
    assert type(model.optimizer).__name__ == "Adam"
    assert type(model.loss).__name__ == "SparseCategoricalCrossentropy"
