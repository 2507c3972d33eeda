"""The three built-in datasets, decoded once into uint8 images and int labels with a seeded validation split.

- ``emnist``: EMNIST balanced (47 classes) through ``extra_keras_datasets.emnist.load_data``. The
  library's built-in NIST URL is dead, so the zip is fetched from NIST's current address into the
  Keras cache under the library's own file name (or copied from a pre-placed ``matlab.zip``), and
  the library then finds it there. The library writes ``./<type>.mat`` into the working directory,
  so it runs in a private temp dir under a file lock. A compact ``.npz`` makes the next load fast.
- ``digits``: scikit-learn's bundled 8x8 digits, resized to 28x28; offline demo and CI data.
- ``synthetic``: random arrays of EMNIST balanced's real size, for throughput benchmarks only.
- ``npz`` (``data.path``) and ``data.loader``: the user's own arrays (``trainables.data.user``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np

from trainables.data.types import DATASETS, SYNTHETIC, DataSpec, Dataset, split_validation
from trainables.errors import DataError
from trainables.keras_internals import keras_home
from trainables.tf_runtime import import_tensorflow_quietly

#: The cache file name ``extra_keras_datasets.emnist.load_data`` looks for in ``$KERAS_HOME/datasets``.
EMNIST_LIBRARY_FNAME = "emnist_matlab.npz"
EMNIST_CLASSES = 47
#: EMNIST balanced split sizes (train, test), used for the synthetic dataset.
EMNIST_SIZES = (112_800, 18_800)
IMAGE_SIDE = 28


def load_builtin(spec: DataSpec) -> Dataset:
    """Load the built-in dataset ``spec.name`` with its seeded validation split."""
    if spec.name == "emnist":
        import_tensorflow_quietly()  # the EMNIST path imports Keras, and so TensorFlow
        (x_tr, y_tr), (x_te, y_te) = load_emnist_arrays(spec)
        n_classes = EMNIST_CLASSES
    elif spec.name == "digits":
        (x_tr, y_tr), (x_te, y_te) = load_digits_arrays(spec.seed)
        n_classes = 10
    elif spec.name == SYNTHETIC:
        (x_tr, y_tr), (x_te, y_te) = make_synthetic_arrays(spec.seed)
        n_classes = EMNIST_CLASSES
    else:
        raise DataError(f"unknown dataset {spec.name!r}", f"use data={' | data='.join(DATASETS)}")
    x_tr, y_tr, x_val, y_val = split_validation(x_tr, y_tr, spec.val_split, spec.seed)
    return Dataset(
        name=spec.name,
        n_classes=n_classes,
        x_train=_with_channel(x_tr),
        y_train=y_tr.astype(np.int64),
        x_val=_with_channel(x_val),
        y_val=y_val.astype(np.int64),
        x_test=_with_channel(x_te),
        y_test=y_te.astype(np.int64),
        meta={"val_split": str(spec.val_split), "seed": str(spec.seed)},
    )


def _with_channel(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.reshape((-1, IMAGE_SIDE, IMAGE_SIDE, 1)).astype(np.uint8))


# --------------------------------------------------------------------------- digits


def load_digits_arrays(seed: int) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """scikit-learn's digits, scaled from 8x8 (0..16) to 28x28 uint8, with a seeded 20% test split."""
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = bunch.images.astype(np.float32) / 16.0
    big = zoom(images, (1, IMAGE_SIDE / 8, IMAGE_SIDE / 8), order=1)
    pixels = np.clip(np.rint(big * 255.0), 0, 255).astype(np.uint8)
    x_tr, x_te, y_tr, y_te = train_test_split(
        pixels, bunch.target, test_size=0.2, random_state=seed, stratify=bunch.target
    )
    return (x_tr, y_tr), (x_te, y_te)


# --------------------------------------------------------------------------- synthetic


def make_synthetic_arrays(
    seed: int, sizes: tuple[int, int] = EMNIST_SIZES
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Random images and labels of EMNIST balanced's size (for throughput, not accuracy)."""
    rng = np.random.default_rng(seed)
    n_train, n_test = sizes
    shape = (IMAGE_SIDE, IMAGE_SIDE)
    x_tr = rng.integers(0, 256, size=(n_train, *shape), dtype=np.uint8)
    x_te = rng.integers(0, 256, size=(n_test, *shape), dtype=np.uint8)
    y_tr = rng.integers(0, EMNIST_CLASSES, size=n_train)
    y_te = rng.integers(0, EMNIST_CLASSES, size=n_test)
    return (x_tr, y_tr), (x_te, y_te)


# --------------------------------------------------------------------------- emnist


def load_emnist_arrays(
    spec: DataSpec, emnist_type: str = "balanced"
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """EMNIST train and test arrays: from the .npz cache, else decoded once from matlab.zip."""
    from filelock import FileLock

    cache = keras_home()
    npz_path = cache / "datasets" / "regsweep" / f"emnist-{emnist_type}.npz"
    npz_path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(npz_path) + ".lock"):
        if npz_path.exists():
            return _read_npz(npz_path)
        zip_path = _ensure_emnist_zip(spec, cache)
        arrays = _decode_emnist_zip(zip_path, emnist_type)
        _write_npz_atomically(npz_path, arrays)
        return arrays


def _read_npz(path: Path) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    try:
        with np.load(path) as f:
            return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
    except Exception as exc:  # zipfile.BadZipFile, KeyError, ValueError, EOFError, OSError
        raise DataError(
            f"the EMNIST cache file {path} is corrupt ({type(exc).__name__})",
            f"delete {path} and run again; it is rebuilt from matlab.zip",
        ) from exc


def _write_npz_atomically(
    path: Path, arrays: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
) -> None:
    (x_tr, y_tr), (x_te, y_te) = arrays
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    os.close(fd)
    try:
        with open(tmp, "wb") as f:
            np.savez(f, x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _ensure_emnist_zip(spec: DataSpec, cache: Path) -> Path:
    """Put matlab.zip where the library looks (``<cache>/datasets/emnist_matlab.npz``)."""
    target = cache / "datasets" / EMNIST_LIBRARY_FNAME
    if target.exists():
        return target
    candidates = [Path(spec.matlab_zip).expanduser()] if spec.matlab_zip else []
    candidates.append(cache / "datasets" / "matlab.zip")
    for candidate in candidates:
        if candidate.is_file():
            shutil.copyfile(candidate, target)
            return target
    if spec.matlab_zip:
        raise DataError(
            f"data.matlab_zip={spec.matlab_zip} does not exist",
            "point data.matlab_zip at NIST's EMNIST matlab.zip, or drop it to download",
        )
    placed = cache / "datasets" / "matlab.zip"
    if not spec.download:
        raise DataError(
            "EMNIST is not cached and downloads are off (data.download=false)",
            f"put NIST's EMNIST matlab.zip at {placed}, or run offline with data=digits",
        )
    try:
        from keras.utils import get_file

        get_file(EMNIST_LIBRARY_FNAME, origin=spec.url, cache_dir=str(cache))
    except Exception as exc:
        target.unlink(missing_ok=True)
        raise DataError(
            f"EMNIST is not cached and the download from {spec.url} failed "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})",
            f"download matlab.zip from NIST and put it at {placed} "
            "(or pass data.matlab_zip=PATH), or run offline with data=digits",
        ) from exc
    return target


@contextlib.contextmanager
def _private_cwd() -> Iterator[Path]:
    """Run in a fresh temp dir: the library writes ``./<type>.mat`` into the working directory."""
    before = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="regsweep-emnist-") as tmp:
        os.chdir(tmp)
        try:
            yield Path(tmp)
        finally:
            os.chdir(before)


def _decode_emnist_zip(
    zip_path: Path, emnist_type: str
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    if not zipfile.is_zipfile(zip_path):
        raise DataError(
            f"{zip_path} is not a valid zip file (a broken or partial EMNIST download)",
            f"delete {zip_path} and run again, or place a good matlab.zip there",
        )
    from scipy.io.matlab import MatReadError

    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    if not root.handlers:  # logging.basicConfig (which the library calls) does nothing when root has one
        root.addHandler(logging.NullHandler())
    try:
        from extra_keras_datasets import emnist

        with _private_cwd():
            (x_tr, y_tr), (x_te, y_te) = emnist.load_data(type=emnist_type)
    except (KeyError, ValueError, OSError, zipfile.BadZipFile, TypeError, IndexError, MatReadError) as exc:
        raise DataError(
            f"{zip_path} does not hold a readable matlab/emnist-{emnist_type}.mat "
            f"({type(exc).__name__})",
            f"delete {zip_path} and place NIST's EMNIST matlab.zip there",
        ) from exc
    finally:
        # the library calls logging.basicConfig(level=INFO); undo that side effect
        root.setLevel(level)
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
    return (x_tr.astype(np.uint8), y_tr.astype(np.int64)), (x_te.astype(np.uint8), y_te.astype(np.int64))
