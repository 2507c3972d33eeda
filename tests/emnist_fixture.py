"""Writes a tiny ``matlab.zip`` in EMNIST's own layout (``matlab/emnist-balanced.mat``).

The real file holds a MATLAB struct ``dataset`` with ``train``/``test`` structs whose ``images`` are
N x 784 uint8 rows in column-major (Fortran) order and ``labels`` N x 1, plus a ``mapping``.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np


def make_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images with a recognizable orientation: a bright top row and a bright left column."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 50, size=(n, 28, 28), dtype=np.uint8)
    images[:, 0, :] = 255
    images[:, :, 0] = 200
    labels = rng.integers(0, 47, size=n)
    return images, labels


def write_emnist_zip(path: Path, n_train: int = 60, n_test: int = 20) -> dict[str, np.ndarray]:
    """Write the zip and return the original (row-major) arrays for comparison."""
    from scipy.io import savemat

    x_tr, y_tr = make_images(n_train, 1)
    x_te, y_te = make_images(n_test, 2)

    def struct(x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        flat = np.stack([img.flatten(order="F") for img in x]).astype(np.uint8)
        return {"images": flat, "labels": y.reshape(-1, 1).astype(np.uint8),
                "writers": np.zeros((len(y), 1), np.uint16)}

    mapping = np.stack([np.arange(47), np.arange(48, 95)], axis=1)
    buf = io.BytesIO()
    savemat(buf, {"dataset": {"train": struct(x_tr, y_tr), "test": struct(x_te, y_te), "mapping": mapping}})
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("matlab/emnist-balanced.mat", buf.getvalue())
    return {"x_train": x_tr, "y_train": y_tr, "x_test": x_te, "y_test": y_te}
