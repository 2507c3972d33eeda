"""Dataset loaders: digits, synthetic, and the real EMNIST path on a generated tiny matlab.zip."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.emnist_fixture import write_emnist_zip
from trainables.data.load import load_dataset
from trainables.data.builtin import EMNIST_SIZES
from trainables.data.types import DataSpec, split_validation
from trainables.errors import DataError

CLOSED_PORT_URL = "http://127.0.0.1:9/matlab.zip"  # loopback, nothing listens: fails at once


def test_digits_loader_shapes_types_and_split(digits):
    assert digits.name == "digits" and digits.n_classes == 10
    assert digits.sizes() == {"train": 1150, "val": 287, "test": 360}
    for x in (digits.x_train, digits.x_val, digits.x_test):
        assert x.dtype == np.uint8 and x.shape[1:] == (28, 28, 1)
    assert digits.x_train.max() == 255 and digits.x_train.min() == 0
    assert set(np.unique(digits.y_train)) == set(range(10))


def test_validation_split_is_seeded_and_configurable():
    a = load_dataset(DataSpec(name="digits", val_split=0.3, seed=5))
    b = load_dataset(DataSpec(name="digits", val_split=0.3, seed=5))
    c = load_dataset(DataSpec(name="digits", val_split=0.3, seed=6))
    assert a.sizes()["val"] == round(1437 * 0.3)
    assert np.array_equal(a.y_val, b.y_val) and np.array_equal(a.x_val, b.x_val)
    assert not np.array_equal(a.y_val, c.y_val)
    x = np.arange(10)
    tr, _, va, _ = split_validation(x, x, 0.2, 0)
    assert sorted(np.concatenate([tr, va]).tolist()) == list(range(10)) and len(va) == 2


def test_synthetic_has_emnist_balanced_size():
    d = load_dataset(DataSpec(name="synthetic", val_split=0.2))
    n_train, n_test = EMNIST_SIZES
    assert d.sizes() == {"train": n_train - round(n_train * 0.2), "val": round(n_train * 0.2), "test": n_test}
    assert d.n_classes == 47 and d.x_train.dtype == np.uint8


def test_emnist_loads_through_extra_keras_datasets_from_a_preplaced_zip(keras_cache, tmp_path, monkeypatch):
    zip_path = tmp_path / "matlab.zip"
    original = write_emnist_zip(zip_path)
    monkeypatch.chdir(tmp_path)
    before = set(os.listdir(tmp_path))
    d = load_dataset(DataSpec(name="emnist", matlab_zip=str(zip_path), download=False, val_split=0.25))
    assert d.n_classes == 47 and d.sizes() == {"train": 45, "val": 15, "test": 20}
    # orientation survives the library's Fortran-order reshape: top row 255, left column 200
    assert (d.x_train[:, 0, 1:, 0] == 255).all() and (d.x_train[:, 1:, 0, 0] == 200).all()
    assert np.array_equal(np.sort(np.concatenate([d.y_train, d.y_val])), np.sort(original["y_train"]))
    assert np.array_equal(d.x_test[..., 0], original["x_test"])
    assert set(os.listdir(tmp_path)) == before, "the library's ./balanced.mat must not leak into the cwd"
    assert (keras_cache / "regsweep" / "emnist-balanced.npz").exists()


def test_emnist_second_load_comes_from_the_npz_cache(keras_cache):
    write_emnist_zip(keras_cache / "matlab.zip")
    first = load_dataset(DataSpec(name="emnist", download=False))
    for f in keras_cache.glob("*.zip"):
        f.unlink()
    (keras_cache / "emnist_matlab.npz").unlink()
    second = load_dataset(DataSpec(name="emnist", download=False))
    assert np.array_equal(first.x_train, second.x_train) and np.array_equal(first.y_test, second.y_test)


def test_emnist_offline_without_file_says_where_to_put_it(keras_cache):
    with pytest.raises(DataError) as err:
        load_dataset(DataSpec(name="emnist", download=False))
    text = str(err.value)
    assert str(keras_cache / "matlab.zip") in text and "data=digits" in text and "\n" not in text


def test_emnist_failed_download_is_one_clear_error(keras_cache):
    with pytest.raises(DataError) as err:
        load_dataset(DataSpec(name="emnist", url=CLOSED_PORT_URL))
    text = str(err.value)
    assert CLOSED_PORT_URL in text and "matlab.zip" in text and "\n" not in text
    assert not (keras_cache / "emnist_matlab.npz").exists(), "no partial download is left behind"


def test_emnist_corrupt_zip_is_a_data_error(keras_cache):
    (keras_cache / "matlab.zip").write_bytes(b"this is not a zip")
    with pytest.raises(DataError, match="not a valid zip"):
        load_dataset(DataSpec(name="emnist", download=False))


def test_emnist_zip_without_the_mat_file_is_a_data_error(keras_cache):
    with zipfile.ZipFile(keras_cache / "matlab.zip", "w") as zf:
        zf.writestr("matlab/other.mat", b"x")
    with pytest.raises(DataError, match="emnist-balanced.mat"):
        load_dataset(DataSpec(name="emnist", download=False))


def test_emnist_corrupt_npz_cache_is_a_data_error(keras_cache):
    cache = keras_cache / "regsweep"
    cache.mkdir()
    (cache / "emnist-balanced.npz").write_bytes(b"garbage")
    with pytest.raises(DataError, match="delete"):
        load_dataset(DataSpec(name="emnist", download=False))


def test_missing_preplaced_zip_names_the_path(keras_cache, tmp_path):
    missing = Path(tmp_path) / "nope.zip"
    with pytest.raises(DataError, match="nope.zip"):
        load_dataset(DataSpec(name="emnist", matlab_zip=str(missing)))


def test_each_confirmation_seed_deals_the_examples_into_its_own_split_of_the_same_sizes(digits):
    from trainables.data.types import resplit

    one, again, two = resplit(digits, 1), resplit(digits, 1), resplit(digits, 2)
    assert one.sizes() == digits.sizes(), "the same train/validation/test sizes"
    pooled = np.concatenate([digits.y_train, digits.y_val, digits.y_test])
    for split in (one, two):
        dealt = np.concatenate([split.y_train, split.y_val, split.y_test])
        assert sorted(dealt.tolist()) == sorted(pooled.tolist()), "every example once, none invented"
    assert np.array_equal(one.x_test, again.x_test) and np.array_equal(one.y_train, again.y_train), "seeded"
    assert not np.array_equal(one.x_test, two.x_test), "another seed, another split"
    assert not np.array_equal(one.x_test, digits.x_test), "not the sweep's own split"
    shares = np.bincount(one.y_test, minlength=10) / len(one.y_test)
    assert np.abs(shares - np.bincount(pooled, minlength=10) / len(pooled)).max() < 0.01, "stratified by label"
    assert one.meta["split_seed"] == "1"


def test_a_confirmation_run_logs_its_split_and_a_search_trial_does_not():
    from trainables import names
    from trainables.settings import TrainSettings
    from trainables.trainable import trial_params

    confirm = trial_params({names.REGULARIZER: names.NONE, names.SEED: 3, names.SPLIT_SEED: 3}, TrainSettings())
    assert confirm[names.SPLIT_SEED] == 3 and confirm["seed"] == 3
    assert names.SPLIT_SEED not in trial_params({names.REGULARIZER: names.NONE}, TrainSettings())
