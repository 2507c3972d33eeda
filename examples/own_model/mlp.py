"""A small functional MLP for 64-feature vectors: the README's "your own model" example.

Sweep it with:  python -m sweep.launch model=mlp:build data=npz data.path=digits_vectors.npz
(run from this folder, after `python make_npz.py`).
"""

import keras
from keras import layers


def build() -> keras.Model:
    """Two hidden layers and a softmax head; regsweep puts the regularizer on the three Dense layers
    and compiles it with Adam, since it is returned uncompiled."""
    inputs = keras.Input(shape=(64,), name="features")
    x = layers.Dense(128, activation="relu", name="hidden1")(inputs)
    x = layers.Dropout(0.2, name="drop")(x)
    x = layers.Dense(64, activation="relu", name="hidden2")(x)
    outputs = layers.Dense(10, activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs, name="mlp")
