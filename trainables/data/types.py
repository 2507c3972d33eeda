"""What every loader returns and how a validation split is drawn: the data package's types.

It imports nothing else of ``trainables.data``, so the built-in loaders (``builtin``), the user's
(``user``) and the dispatcher (``load``) all build on it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional

import numpy as np

from trainables.errors import DataError

#: The throughput data: random labels, so every trial sits at chance accuracy.
SYNTHETIC = "synthetic"
DATASETS = ("emnist", "digits", SYNTHETIC, "npz")
EMNIST_URL = "https://biometrics.nist.gov/cs_links/EMNIST/matlab.zip"


@dataclass
class DataSpec:
    """Which dataset to load and how to split it."""

    name: str = "emnist"
    """emnist | digits | synthetic | npz."""
    val_split: float = 0.2
    """Fraction of the training set held out for validation (the seed uses 0.2)."""
    seed: int = 0
    """Seed of the validation split (and of the synthetic data)."""
    matlab_zip: str | None = None
    """A pre-placed EMNIST matlab.zip to use instead of downloading."""
    url: str = EMNIST_URL
    """Where to download EMNIST's matlab.zip from."""
    download: bool = True
    """Allow downloading EMNIST when it is not cached."""
    path: Optional[str] = None
    """data=npz: the .npz file with x_train and y_train (and optionally x_val/y_val, x_test/y_test)."""
    loader: Optional[str] = None
    """``module:function`` returning the same arrays (a dict, or keras-style ((x, y), (x, y)) pairs);
    it replaces the dataset that ``data`` names."""


@dataclass
class Dataset:
    """Train/val/test arrays (uint8 images N x 28 x 28 x 1, int64 labels) and what they are."""

    name: str
    n_classes: int
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    meta: dict[str, str] = field(default_factory=dict)
    pixels: bool = True
    """True for the built-in uint8 images, scaled to [0, 1] as they are fed; user data go in as given."""

    def sizes(self) -> dict[str, int]:
        """Number of examples per split."""
        return {
            "train": len(self.y_train),
            "val": len(self.y_val),
            "test": len(self.y_test),
        }


def model_input(data: Dataset, x: np.ndarray) -> np.ndarray:
    """Arrays as the model sees them: built-in images scaled to [0, 1], user data as given."""
    return x.astype(np.float32) / 255.0 if data.pixels else x


def resplit(data: Dataset, seed: int) -> Dataset:
    """The same examples dealt anew, by ``seed``, into train, validation and test splits of the sizes
    ``data`` has: a confirmation seed's own split, so that an interval over seeds covers the data's
    sampling as well as the training's (Bouthillier et al., MLSys 2021: the split is the largest
    source of variance). Stratified by label where every class can fill each split, so that a small
    test split keeps the class mix; otherwise a plain permutation."""
    x = np.concatenate([data.x_train, data.x_val, data.x_test])
    y = np.concatenate([data.y_train, data.y_val, data.y_test])
    sizes = data.sizes()
    order = _stratified_order(y, np.random.default_rng(seed), (sizes["train"], sizes["val"], sizes["test"]))
    cut1, cut2 = sizes["train"], sizes["train"] + sizes["val"]
    train, val, test = order[:cut1], order[cut1:cut2], order[cut2:]
    return replace(data, x_train=x[train], y_train=y[train], x_val=x[val], y_val=y[val], x_test=x[test], y_test=y[test],
                   meta={**data.meta, "split_seed": str(seed)})


def _stratified_order(y: np.ndarray, rng: np.random.Generator, sizes: tuple[int, int, int]) -> np.ndarray:
    """A permutation of ``range(len(y))`` whose first ``sizes[0]``, next ``sizes[1]`` and last ``sizes[2]``
    indices each hold about the overall share of every label (sklearn's StratifiedShuffleSplit rule in
    two steps); a plain permutation where a label is too rare for that."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(y))
    n_train, n_val, n_test = sizes
    try:
        rest, test = train_test_split(index, test_size=n_test, random_state=rng.integers(2 ** 31), stratify=y) \
            if n_test else (index, index[:0])
        train, val = train_test_split(rest, test_size=n_val, random_state=rng.integers(2 ** 31), stratify=y[rest]) \
            if n_val else (rest, rest[:0])
    except ValueError:  # a class with too few examples to stratify (user data): plain shuffle
        return rng.permutation(len(y))
    return np.concatenate([rng.permutation(train), val, test])


def split_validation(
    x: np.ndarray, y: np.ndarray, val_split: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Seeded random hold-out of ``val_split`` of the training set."""
    if not 0.0 < val_split < 1.0:
        raise DataError(f"val_split must be in (0, 1), got {val_split}", "set data.val_split=0.2")
    order = np.random.default_rng(seed).permutation(len(y))
    n_val = max(1, int(round(len(y) * val_split)))
    if n_val >= len(y):
        raise DataError(f"data.val_split={val_split} holds out all {len(y)} training examples for validation, "
                        "leaving none to train on", "use a smaller data.val_split, e.g. 0.2")
    val, train = order[:n_val], order[n_val:]
    return x[train], y[train], x[val], y[val]
