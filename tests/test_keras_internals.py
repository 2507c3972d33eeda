"""Pins the reach into Keras' private internals (``trainables/keras_internals.py``): a Keras upgrade that
moves it fails here, naming Keras and its version, instead of putting EMNIST where Keras never looks."""

from __future__ import annotations

import importlib
import subprocess
import sys

import keras

from tests.cli import launch_env
from trainables import keras_internals

WHO = f"Keras {keras.__version__}"

SNIPPET = """
import pathlib, sys
import keras
from trainables.keras_internals import keras_home
source = pathlib.Path(sys.argv[1])
cached = keras.utils.get_file("probe.bin", origin=source.as_uri())
print(pathlib.Path(cached).resolve().parent == keras_home() / "datasets")
"""


def test_the_keras_home_function_is_where_regsweep_reaches_for_it():
    try:
        module = importlib.import_module(keras_internals.KERAS_HOME_MODULE)
    except ImportError as exc:
        raise AssertionError(f"{WHO} has no {keras_internals.KERAS_HOME_MODULE} ({exc})") from None
    assert callable(getattr(module, keras_internals.KERAS_HOME_FUNCTION, None)), \
        f"{WHO} dropped {keras_internals.KERAS_HOME_MODULE}.{keras_internals.KERAS_HOME_FUNCTION}"


def test_get_file_with_a_bare_name_caches_under_keras_home(tmp_path):
    """What the EMNIST loader relies on: a file ``get_file`` fetches without a cache_dir lands in
    ``keras_home()/datasets`` (here under a private $KERAS_HOME)."""
    source = tmp_path / "source.bin"
    source.write_bytes(b"regsweep")
    env = launch_env(KERAS_HOME=str(tmp_path / "home"))
    proc = subprocess.run([sys.executable, "-c", SNIPPET, str(source)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "True", f"{WHO}: get_file caches elsewhere than keras_home()"
    assert (tmp_path / "home" / "datasets" / "probe.bin").read_bytes() == b"regsweep"


def test_sequential_and_functional_models_are_told_from_subclassed_ones():
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(2)(inputs)

    class Subclassed(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    class FunctionalSubclass(keras.Model):  # a subclass built the functional way is still functional
        def __init__(self) -> None:
            super().__init__(inputs=inputs, outputs=outputs)

    assert keras_internals.is_sequential_or_functional(keras.Model(inputs, outputs)), WHO
    assert keras_internals.is_sequential_or_functional(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]))
    assert keras_internals.is_sequential_or_functional(FunctionalSubclass()), WHO
    assert not keras_internals.is_sequential_or_functional(Subclassed()), WHO
