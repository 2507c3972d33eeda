"""Users' own models, as a user's module would define them (``model=tests.own_models:<name>``)."""

from __future__ import annotations

from typing import Any

N_CLASSES = 5


def mlp() -> Any:
    """A small functional MLP on 12 features (uncompiled)."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=(12,))
    x = layers.Dense(16, activation="relu", name="hidden1")(inputs)
    x = layers.Dropout(0.1, name="drop")(x)
    x = layers.Dense(8, activation="relu", name="hidden2")(x)
    return keras.Model(inputs, layers.Dense(N_CLASSES, activation="softmax", name="head")(x))


def resnet_block() -> Any:
    """A ResNet-style block: a residual add around two convolutions, batch norm, a logits head."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=(8, 8, 1))
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="stem")(inputs)
    y = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_a")(x)
    y = layers.BatchNormalization(name="bn")(y)
    y = layers.Conv2D(4, 3, padding="same", use_bias=False, name="conv_b")(y)
    x = layers.ReLU(name="relu_out")(layers.Add(name="residual")([x, y]))
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, layers.Dense(N_CLASSES, name="logits")(x))


def embedding_head() -> Any:
    """Token ids -> Embedding -> mean -> Dense head."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=(6,), dtype="int32")
    x = layers.Embedding(20, 4, name="embed")(inputs)
    x = layers.GlobalAveragePooling1D(name="mean")(x)
    return keras.Model(inputs, layers.Dense(N_CLASSES, activation="softmax", name="head")(x))


def sequential_cnn() -> Any:
    """A Sequential CNN on 8x8x1 images, compiled by the user with SGD."""
    import keras
    from keras import layers

    model = keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        layers.Conv2D(3, 3, activation="relu", name="conv"),
        layers.Flatten(name="flat"),
        layers.Dense(N_CLASSES, activation="softmax", name="out"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="sparse_categorical_crossentropy")
    return model




def subclassed() -> Any:
    """A subclassed model: no config to rebuild from."""
    import keras

    class Tiny(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.hidden = keras.layers.Dense(8, activation="relu")
            self.out = keras.layers.Dense(N_CLASSES, activation="softmax")

        def call(self, x: Any) -> Any:
            return self.out(self.hidden(x))

    return Tiny()


def hooked(regularizers: Any) -> Any:
    """A subclassed model that takes the sweep's regularizers itself (the documented hook): only its
    hidden layer gets them."""
    import keras

    class Tiny(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.hidden = keras.layers.Dense(8, activation="relu", kernel_regularizer=regularizers.kernel(),
                                             bias_regularizer=regularizers.bias(),
                                             activity_regularizer=regularizers.activity())
            self.out = keras.layers.Dense(N_CLASSES, activation="softmax")

        def call(self, x: Any) -> Any:
            return self.out(self.hidden(x))

    return Tiny()


def two_outputs_units() -> Any:
    """An MLP whose head has 3 units: a mismatch with 5-class labels."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=(12,))
    return keras.Model(inputs, layers.Dense(3, activation="softmax", name="head")(inputs))


def not_a_model() -> Any:
    return "a string"


# ReLU shapes the activation-sparsity probe must take (one ReLU layer used to fail every trial).
def one_relu_layer_bn() -> Any:
    """Functional: Dense -> BatchNormalization -> Activation("relu") -> Dropout -> Dense(softmax)."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=(12,))
    x = layers.Dense(16, name="dense")(inputs)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.Activation("relu", name="relu")(x)
    x = layers.Dropout(0.1, name="drop")(x)
    return keras.Model(inputs, layers.Dense(N_CLASSES, activation="softmax", name="head")(x))


def one_relu_argument_sequential() -> Any:
    """Sequential, with its only ReLU as a Dense layer's ``activation=``."""
    import keras
    from keras import layers

    return keras.Sequential([keras.Input(shape=(12,)), layers.Dense(16, activation="relu", name="hidden"),
                             layers.Dense(N_CLASSES, activation="softmax", name="head")])


def one_relu_layer_sequential() -> Any:
    """Sequential, with its only ReLU as a ``ReLU`` layer."""
    import keras
    from keras import layers

    return keras.Sequential([keras.Input(shape=(12,)), layers.Dense(16, name="hidden"), layers.ReLU(name="relu"),
                             layers.Dense(N_CLASSES, activation="softmax", name="head")])


def gelu_only() -> Any:
    """Functional, with no ReLU at all (GELU): activation sparsity is undefined (NaN)."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=(12,))
    x = layers.Dense(16, activation="gelu", name="hidden")(inputs)
    return keras.Model(inputs, layers.Dense(N_CLASSES, activation="softmax", name="head")(x))
