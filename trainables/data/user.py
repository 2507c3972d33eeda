"""The user's own arrays: ``data=npz data.path=FILE`` or ``data.loader=<module>:<function>``.

Either gives ``x_train`` and ``y_train`` and optionally ``x_val``/``y_val`` and ``x_test``/``y_test``
(an ``.npz``, a dict, or keras-style ``((x, y), (x, y))`` / ``((x, y), (x, y), (x, y))`` pairs). A
missing test split is held out of the training arrays as digits' is (20%, stratified, seeded by
``data.seed``), then a missing validation split as every dataset's is (``data.val_split``).

Any input shape works: images, feature vectors, token sequences. Labels are class indices. Every
problem is one ``DataError`` (exit 2) that names the array and the fix, before anything starts.
The arrays are fed to the model as they are (float64 becomes float32); only the built-in image sets
are scaled from uint8 pixels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from trainables.data.types import DataSpec, Dataset, split_validation
from trainables.errors import DataError

SPLITS = ("train", "val", "test")
#: Share of the training arrays held out as the test split when none is given (as digits does).
TEST_SHARE = 0.2


def load_user_dataset(spec: DataSpec) -> Dataset:
    """The arrays of ``spec.loader`` or ``spec.path``, checked and split."""
    if spec.loader:
        source = spec.loader
        arrays = _from_loader(spec.loader)
    else:
        if not spec.path:
            raise DataError("data=npz needs data.path", "add data.path=/path/to/arrays.npz (x_train, y_train, ...)")
        source = str(Path(spec.path).expanduser())
        arrays = _from_npz(Path(spec.path).expanduser())
    return make_dataset(arrays, spec, source)


def make_dataset(arrays: Mapping[str, Optional[np.ndarray]], spec: DataSpec, source: str) -> Dataset:
    """Check ``arrays`` (x_train, y_train, optional val/test pairs), fill the missing splits, and
    return the dataset."""
    splits = _pairs(arrays, source)
    splits = {split: (_features(x, f"x_{split}", source), _labels(y, f"y_{split}", source))
              for split, (x, y) in splits.items()}
    _check_consistent(splits, source)
    x_tr, y_tr = splits["train"]
    made = []
    if "test" not in splits:
        x_tr, y_tr, x_te, y_te = _hold_out_test(x_tr, y_tr, spec.seed)
        splits["test"] = (x_te, y_te)
        made.append("test")
    if "val" in splits:
        x_val, y_val = splits["val"]
    else:
        x_tr, y_tr, x_val, y_val = split_validation(x_tr, y_tr, spec.val_split, spec.seed)
        made.append("val")
    x_te, y_te = splits["test"]
    classes = _n_classes({"train": y_tr, "val": y_val, "test": y_te}, source)
    return Dataset(
        name=Path(source).name if not spec.loader else source, n_classes=classes,
        x_train=x_tr, y_train=y_tr, x_val=x_val, y_val=y_val, x_test=x_te, y_test=y_te,
        meta={"source": source, "made_splits": ",".join(made) or "none", "val_split": str(spec.val_split),
              "seed": str(spec.seed)},
        pixels=False)


def _from_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise DataError(f"data.path={path} does not exist", "point data.path at an .npz with x_train and y_train")
    try:
        with np.load(path, allow_pickle=False) as f:
            return {key: f[key] for key in f.files}
    except Exception as exc:  # BadZipFile, ValueError (pickled objects), OSError
        raise DataError(f"data.path={path} is not a readable .npz ({type(exc).__name__}: {_first(exc)})",
                        "write it with numpy.savez(path, x_train=..., y_train=...) (no object arrays)") from None


def _from_loader(target: str) -> dict[str, Any]:
    from trainables.user_code import load_callable

    fn = load_callable(target, "data.loader")
    try:
        out = fn()
    except Exception as exc:
        raise DataError(f"data.loader {target}() raised {type(exc).__name__}: {_first(exc)}",
                        "fix the loader; call it in Python to see the whole error") from None
    if isinstance(out, Mapping) or hasattr(out, "files"):
        return {key: out[key] for key in (out.files if hasattr(out, "files") else out.keys())}
    if isinstance(out, (tuple, list)) and len(out) in (2, 3) and all(
            isinstance(p, (tuple, list)) and len(p) == 2 for p in out):
        names = ("train", "test") if len(out) == 2 else SPLITS
        return {f"{axis}_{split}": pair[i] for split, pair in zip(names, out) for i, axis in enumerate("xy")}
    raise DataError(f"data.loader {target}() returned a {type(out).__name__}",
                    "return a dict with x_train, y_train (and optionally x_val, y_val, x_test, y_test), "
                    "or ((x_train, y_train), (x_test, y_test))")


def _pairs(arrays: Mapping[str, Any], source: str) -> dict[str, tuple[Any, Any]]:
    missing = [k for k in ("x_train", "y_train") if arrays.get(k) is None]
    if missing:
        raise DataError(f"{source} has no {' and no '.join(missing)} (it has: {', '.join(sorted(arrays)) or 'nothing'})",
                        "name the arrays x_train and y_train (and optionally x_val, y_val, x_test, y_test)")
    out = {}
    for split in SPLITS:
        x, y = arrays.get(f"x_{split}"), arrays.get(f"y_{split}")
        if (x is None) != (y is None):
            have, lack = (f"x_{split}", f"y_{split}") if y is None else (f"y_{split}", f"x_{split}")
            raise DataError(f"{source} has {have} but no {lack}", f"give both {have} and {lack}, or neither")
        if x is not None:
            out[split] = (x, y)
    return out


def _features(x: Any, key: str, source: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype == bool or not np.issubdtype(x.dtype, np.number):
        raise DataError(f"{key} in {source} has dtype {x.dtype}, not numbers",
                        f"convert {key} to a numeric array (float32 features, int token ids, uint8 pixels)")
    if x.ndim < 2:
        raise DataError(f"{key} in {source} has shape {x.shape}: one value per example",
                        f"give {key} a feature axis: x.reshape(-1, 1) for one feature")
    if len(x) == 0:
        raise DataError(f"{key} in {source} is empty", f"give {key} at least one example")
    if np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all():
            raise DataError(f"{key} in {source} holds NaN or inf", f"impute or drop those values in {key}")
        if x.dtype == np.float64:
            x = x.astype(np.float32)
    return np.ascontiguousarray(x)


def _labels(y: Any, key: str, source: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{key} in {source} has shape {y.shape}; class indices (one per example) are needed",
                        f"for one-hot labels pass {key}.argmax(axis=1)")
    if y.dtype == bool or not np.issubdtype(y.dtype, np.number):
        raise DataError(f"{key} in {source} has dtype {y.dtype}, not class indices",
                        f"map the labels to 0..K-1, e.g. numpy.unique({key}, return_inverse=True)[1]")
    if np.issubdtype(y.dtype, np.floating) and not (np.isfinite(y).all() and np.all(y == np.round(y))):
        raise DataError(f"{key} in {source} holds non-integer values: regsweep sweeps classifiers",
                        "give class indices 0..K-1")
    if len(y) and y.min() < 0:
        raise DataError(f"{key} in {source} holds negative labels ({int(y.min())})", "give class indices 0..K-1")
    return y.astype(np.int64)


def _check_consistent(splits: Mapping[str, tuple[np.ndarray, np.ndarray]], source: str) -> None:
    shape = splits["train"][0].shape[1:]
    for split, (x, y) in splits.items():
        if len(x) != len(y):
            raise DataError(f"x_{split} has {len(x)} examples but y_{split} has {len(y)} in {source}",
                            f"give x_{split} and y_{split} the same length")
        if x.shape[1:] != shape:
            raise DataError(f"x_{split} has examples of shape {x.shape[1:]} but x_train's are {shape} in {source}",
                            "give every split the same example shape")


def _n_classes(labels: Mapping[str, np.ndarray], source: str) -> int:
    train = set(np.unique(labels["train"]).tolist())
    if len(train) < 2:
        raise DataError(f"y_train in {source} holds {len(train)} class", "give examples of at least two classes")
    for split in ("val", "test"):
        unseen = sorted(set(np.unique(labels[split]).tolist()) - train)
        if unseen:
            raise DataError(f"y_{split} in {source} has class {unseen[0]}, which y_train never has",
                            "check the labels, or make sure every class has training examples")
    return int(max(train)) + 1


def _hold_out_test(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, ...]:
    """20% of the training arrays as the test split, stratified where every class allows it."""
    from sklearn.model_selection import train_test_split

    if len(y) < 5:
        raise DataError(f"{len(y)} training examples cannot be split into train, validation and test",
                        "give more examples, or x_val/y_val and x_test/y_test")
    counts = np.bincount(y)
    stratify = y if counts[counts > 0].min() >= 2 and len(y) * TEST_SHARE >= len(counts[counts > 0]) else None
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=TEST_SHARE, random_state=seed, stratify=stratify)
    return x_tr, y_tr, x_te, y_te


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else ""
