"""Your own data: ``data=npz data.path=`` and ``data.loader=``, their splits, and one clear line
(exit 2, before anything starts) for each way the data and the model can disagree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests import own_models
from tests.cli import launch
from trainables.data.load import load_dataset
from trainables.data.types import DataSpec
from trainables.errors import ConfigError, DataError, UserError
from trainables.model.check import check_model
from trainables.model.source import ModelSource

N = 200


def arrays(n: int = N, features: int = 12, classes: int = own_models.N_CLASSES, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {"x_train": rng.normal(size=(n, features)), "y_train": np.arange(n) % classes}


def write(tmp_path: Path, **values) -> Path:
    path = tmp_path / "arrays.npz"
    np.savez(path, **values)
    return path


def npz(path: Path, **kwargs) -> DataSpec:
    return DataSpec(name="npz", path=str(path), **kwargs)


def test_npz_with_every_split_is_taken_as_given(tmp_path):
    a = arrays()
    path = write(tmp_path, **a, x_val=a["x_train"][:30], y_val=a["y_train"][:30], x_test=a["x_train"][:40],
                 y_test=a["y_train"][:40])
    data = load_dataset(npz(path))
    assert data.sizes() == {"train": N, "val": 30, "test": 40} and data.n_classes == own_models.N_CLASSES
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64 and not data.pixels
    np.testing.assert_array_equal(data.x_test, a["x_train"][:40].astype(np.float32))
    assert data.meta["made_splits"] == "none" and data.name == "arrays.npz"


def test_npz_without_val_and_test_gets_the_seeded_splits(tmp_path):
    path = write(tmp_path, **arrays())
    data = load_dataset(npz(path, seed=1))
    assert data.sizes() == {"train": 128, "val": 32, "test": 40}, "20% test (as digits), then data.val_split of the rest"
    assert np.bincount(data.y_test).tolist() == [8] * 5, "the test split is stratified"
    again = load_dataset(npz(path, seed=1))
    np.testing.assert_array_equal(data.x_val, again.x_val)
    other = load_dataset(npz(path, seed=2))
    assert not np.array_equal(data.x_val, other.x_val)
    assert data.meta["made_splits"] == "test,val"


def test_npz_with_test_but_no_val_splits_validation_only(tmp_path):
    a = arrays()
    path = write(tmp_path, **a, x_test=a["x_train"][:50], y_test=a["y_train"][:50])
    data = load_dataset(npz(path))
    assert data.sizes() == {"train": 160, "val": 40, "test": 50}


def test_a_loader_function_gives_the_arrays(tmp_path, monkeypatch):
    (tmp_path / "my_loader.py").write_text(
        "import numpy as np\n"
        "def load():\n"
        "    rng = np.random.default_rng(0)\n"
        "    x, y = rng.normal(size=(100, 3, 4)), np.arange(100) % 4\n"
        "    return {'x_train': x, 'y_train': y, 'x_test': x[:20], 'y_test': y[:20]}\n"
        "def keras_style():\n"
        "    x, y = np.zeros((100, 3), 'float32'), np.arange(100) % 2\n"
        "    return (x, y), (x[:10], y[:10])\n")
    monkeypatch.chdir(tmp_path)  # the user's module is found in the working directory
    data = load_dataset(DataSpec(loader="my_loader:load"))
    assert data.sizes() == {"train": 80, "val": 20, "test": 20} and data.x_train.shape[1:] == (3, 4)
    assert data.n_classes == 4 and data.name == "my_loader:load"
    data = load_dataset(DataSpec(loader="my_loader:keras_style"))
    assert data.sizes() == {"train": 80, "val": 20, "test": 10} and data.n_classes == 2


BAD_ARRAYS = {
    "no y_train": ({"x_train": np.zeros((10, 2))}, "has no y_train"),
    "x_val without y_val": ({**arrays(), "x_val": np.zeros((5, 12))}, "has x_val but no y_val"),
    "lengths differ": ({"x_train": np.zeros((10, 2)), "y_train": np.arange(9) % 2}, "x_train has 10 examples but y_train has 9"),
    "example shapes differ": ({**arrays(), "x_test": np.zeros((5, 11)), "y_test": np.zeros(5, int)},
                              r"x_test has examples of shape \(11,\) but x_train's are \(12,\)"),
    "one-hot labels": ({"x_train": np.zeros((10, 2)), "y_train": np.eye(2)[np.arange(10) % 2]}, "argmax"),
    "fractional labels": ({"x_train": np.zeros((10, 2)), "y_train": np.linspace(0, 1, 10)}, "non-integer"),
    "text features": ({"x_train": np.array([["a", "b"]] * 10), "y_train": np.arange(10) % 2}, "not numbers"),
    "NaN features": ({"x_train": np.full((10, 2), np.nan), "y_train": np.arange(10) % 2}, "NaN or inf"),
    "one value per example": ({"x_train": np.zeros(10), "y_train": np.arange(10) % 2}, r"reshape\(-1, 1\)"),
    "negative labels": ({"x_train": np.zeros((10, 2)), "y_train": np.arange(10) % 2 - 1}, "negative labels"),
    "one class": ({"x_train": np.zeros((10, 2)), "y_train": np.zeros(10, int)}, "at least two classes"),
    "a class only in test": ({**arrays(), "x_test": np.zeros((5, 12)), "y_test": np.full(5, 7)},
                             "y_test .* has class 7, which y_train never has"),
}


@pytest.mark.parametrize("case", sorted(BAD_ARRAYS))
def test_each_bad_array_is_one_line_that_names_it(tmp_path, case):
    values, message = BAD_ARRAYS[case]
    with pytest.raises(DataError, match=message) as err:
        load_dataset(npz(write(tmp_path, **values)))
    assert "\n" not in str(err.value) and "Fix:" in str(err.value)


def test_a_missing_or_broken_file_and_a_bad_loader_are_one_line(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(npz(tmp_path / "nope.npz"))
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="is not a readable .npz"):
        load_dataset(npz(tmp_path / "broken.npz"))
    (tmp_path / "loaders.py").write_text("def boom():\n    raise OSError('disk gone')\ndef wrong():\n    return 3\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match=r"loaders:boom\(\) raised OSError: disk gone"):
        load_dataset(DataSpec(loader="loaders:boom"))
    with pytest.raises(DataError, match=r"returned a int"):
        load_dataset(DataSpec(loader="loaders:wrong"))
    with pytest.raises(ConfigError, match="data.loader: module 'nowhere' is not on PYTHONPATH"):
        load_dataset(DataSpec(loader="nowhere:load"))
    with pytest.raises(ConfigError, match="data.loader: module 'loaders' has no 'missing'"):
        load_dataset(DataSpec(loader="loaders:missing"))
    (tmp_path / "attr_broken.py").write_text("import os\nos.no_such_function()\ndef load():\n    return {}\n")
    with pytest.raises(ConfigError, match=r"importing 'attr_broken' failed \(AttributeError: module 'os' has no"):
        load_dataset(DataSpec(loader="attr_broken:load"))  # an import that fails is not a missing function


def mlp_source(data, target: str = "tests.own_models:mlp") -> ModelSource:
    return ModelSource(target=target, n_classes=data.n_classes, input_shape=tuple(data.x_train.shape[1:]),
                       input_dtype=str(data.x_train.dtype))


MISMATCHES = {
    "input shape": ("tests.own_models:mlp", arrays(features=7), r"the examples have shape \(7,\) but tests.own_models:mlp takes \(12,\)"),
    "output units": ("tests.own_models:two_outputs_units", arrays(), "has 3 output units but the labels have 5 classes"),
    "labels beyond the outputs": ("tests.own_models:mlp", arrays(classes=8), "has 5 output units but the labels have 8 classes"),
    "seed CNN on vectors": ("seed_cnn", arrays(), r"the seed CNN takes images \(height, width, channels\)"),
    "not a model": ("tests.own_models:not_a_model", arrays(), r"returned a str, not a keras.Model"),
    "subclassed": ("tests.own_models:subclassed", arrays(), "returns a subclassed model"),
}


@pytest.mark.parametrize("case", sorted(MISMATCHES))
def test_each_model_and_data_mismatch_is_one_line(tmp_path, case):
    target, values, message = MISMATCHES[case]
    data = load_dataset(npz(write(tmp_path, **values)))
    with pytest.raises(UserError, match=message) as err:
        check_model(mlp_source(data, target), data)
    assert "\n" not in str(err.value)


def test_a_loss_that_does_not_fit_the_labels_is_caught_before_the_trials(tmp_path):
    (tmp_path / "onehot_model.py").write_text(
        "import keras\n"
        "def build():\n"
        "    i = keras.Input(shape=(12,))\n"
        "    m = keras.Model(i, keras.layers.Dense(5, activation='softmax')(i))\n"
        "    m.compile(optimizer='adam', loss='categorical_crossentropy')\n"
        "    return m\n")
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        data = load_dataset(npz(write(tmp_path, **arrays())))
        with pytest.raises(DataError, match="onehot_model:build cannot be trained on the data"):
            check_model(mlp_source(data, "onehot_model:build"), data)
    finally:
        sys.path.remove(str(tmp_path))


@pytest.mark.parametrize("overrides, message", [
    (["model=tests.own_models:two_outputs_units"], "has 3 output units but the labels have 5 classes"),
    (["model=tests.own_models:mlp", "regularize.include=[Conv2D]"], "regularize.include: 'Conv2D' is no layer"),
    (["model=missing_module:build"], "model: module 'missing_module' is not on PYTHONPATH"),
    (["data.path=elsewhere.npz"], "data.path=elsewhere.npz does not exist"),
])
def test_the_launcher_says_a_mismatch_in_one_line_with_exit_2_before_ray_starts(tmp_path, overrides, message):
    np.savez(tmp_path / "arrays.npz", **arrays())
    args = ["data=npz", "data.path=arrays.npz", "model=tests.own_models:mlp", *overrides, "name=mismatch"]
    proc = launch(tmp_path, *args, timeout=300)
    errors = [line for line in proc.stdout.splitlines() + proc.stderr.splitlines() if line.startswith("regsweep: error:")]
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert len(errors) == 1 and message in errors[0], errors
    assert not (tmp_path / "ray_results").exists() and not (tmp_path / "mlflow.db").exists(), "nothing started"
