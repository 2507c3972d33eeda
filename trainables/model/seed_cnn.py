"""The seed CNN from keras-regularizers-emnist.txt, with a regularizer on every Conv2D/Dense layer.

Conv2D 32 3x3 relu -> MaxPool 2 -> Dropout 0.25 -> Conv2D 64 3x3 relu -> MaxPool 2 -> Dropout 0.25
-> Flatten -> Dense 256 relu -> Dense n_classes softmax; Adam and sparse categorical cross-entropy.
For 47 classes that is 440,751 parameters.
"""

from __future__ import annotations

from typing import Any

from trainables.model.regularizers import RegularizerSpec

INPUT_SHAPE = (28, 28, 1)
#: Stable layer names: they become the ``sparsity/<layer>`` metric names.
REGULARIZED_LAYERS = ("conv1", "conv2", "dense1", "output")


def build_model(
    n_classes: int,
    spec: RegularizerSpec,
    learning_rate: float = 1e-3,
    input_shape: tuple[int, ...] = INPUT_SHAPE,
    compile: bool = True,
) -> Any:
    """Build (and compile) the seed CNN with ``spec`` applied to every Conv2D and Dense layer."""
    import keras
    from keras import layers

    def reg(layer: str) -> dict[str, Any]:
        return spec.layer_kwargs()

    model = keras.Sequential(
        [
            keras.Input(shape=input_shape, name="image"),
            layers.Conv2D(32, (3, 3), activation="relu", name="conv1", **reg("conv1")),
            layers.MaxPooling2D((2, 2), name="pool1"),
            layers.Dropout(0.25, name="drop1"),
            layers.Conv2D(64, (3, 3), activation="relu", name="conv2", **reg("conv2")),
            layers.MaxPooling2D((2, 2), name="pool2"),
            layers.Dropout(0.25, name="drop2"),
            layers.Flatten(name="flatten"),
            layers.Dense(256, activation="relu", name="dense1", **reg("dense1")),
            layers.Dense(n_classes, activation="softmax", name="output", **reg("output")),
        ],
        name="seed_cnn",
    )
    if not compile:
        return model
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    return model
