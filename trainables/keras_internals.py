"""The reach into Keras' private internals, in one place, pinned by ``tests/test_keras_internals.py``.

**Where ``keras.utils.get_file`` caches.** EMNIST's loader library calls ``get_file`` with a bare file
name, so regsweep must put the zip exactly where Keras will look. Keras documents that place as
``$KERAS_HOME`` or ``~/.keras`` but falls back to another directory when that is not writable, and only
its private ``keras.src.backend.config.keras_home`` knows which. The pinning test checks that a file
``get_file`` caches lands under the directory this module returns.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

#: The private module and function used below.
KERAS_HOME_MODULE = "keras.src.backend.config"
KERAS_HOME_FUNCTION = "keras_home"


def keras_home() -> Path:
    """The Keras cache root, exactly as ``get_file`` resolves it."""
    import importlib

    return Path(getattr(importlib.import_module(KERAS_HOME_MODULE), KERAS_HOME_FUNCTION)()).expanduser().resolve()


@functools.cache
def functional_model_class() -> type:
    """The class Keras gives a functional model (``keras.Model(inputs, outputs)``), found through the
    public API: Keras exports no name for it."""
    import keras

    inputs = keras.Input((1,))
    return type(keras.Model(inputs, keras.layers.Identity()(inputs)))


def is_sequential_or_functional(model: Any) -> bool:
    """True for a model Keras can rebuild from its config (Sequential or functional, not subclassed)."""
    import keras

    return isinstance(model, (keras.Sequential, functional_model_class()))
