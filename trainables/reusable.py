"""One compiled seed CNN per trial process, reused by every trial Ray runs in that process.

Tracing ``fit``'s train and test functions for a new model costs about 2 s on 2 cores (on a GPU,
XLA compilation comes on top): more than two epochs of digits, paid by every trial. Ray reuses a
worker process across trials (``reuse_actors``), so the process keeps one compiled model per shape
whose penalties are variables. Each trial sets its penalty strengths, copies in the seeded initial
weights (and dropout seeds) that ``build_model`` gives for its seed, and resets the optimizer: it
trains the same model, from the same start, as a freshly built one, without tracing again.

Checkpoints hold only variables (``weights.npz``): the model's, then the optimizer's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainables.model import REGULARIZED_LAYERS, build_model
from trainables.regularizers import PLACEMENT_ARGS, RegularizerSpec

#: Every layer argument a placement can fill.
PENALTY_ARGS = ("kernel_regularizer", "bias_regularizer", "activity_regularizer")
WEIGHTS_FILE = "weights.npz"
#: What checkpoints held before this module: a whole saved Keras model (still read, for resumes).
LEGACY_MODEL_FILE = "model.keras"


def _penalty_class() -> type:
    import keras
    from keras import ops

    class TunablePenalty(keras.regularizers.Regularizer):
        """``l1 * sum|x| + l2 * sum(x^2)`` with l1 and l2 in variables: a new strength needs no retrace.
        At 0 it adds an exact 0.0, so a layer without a penalty trains exactly as one without."""

        def __init__(self) -> None:
            self.l1 = keras.Variable(0.0, trainable=False, dtype="float32", name="penalty_l1")
            self.l2 = keras.Variable(0.0, trainable=False, dtype="float32", name="penalty_l2")

        def __call__(self, x: Any) -> Any:
            l1, l2 = ops.cast(self.l1, x.dtype), ops.cast(self.l2, x.dtype)
            return l1 * ops.sum(ops.absolute(x)) + l2 * ops.sum(ops.square(x))

        def set(self, l1: float, l2: float) -> None:
            self.l1.assign(l1)
            self.l2.assign(l2)

        def get_config(self) -> dict[str, float]:
            return {"l1": float(self.l1.numpy()), "l2": float(self.l2.numpy())}

    return TunablePenalty


@dataclass
class _Compiled:
    model: Any
    penalties: dict[tuple[str, str], Any]
    optimizer_start: list[np.ndarray]


_POOL: dict[tuple[Any, ...], _Compiled] = {}


def trial_model(n_classes: int, spec: RegularizerSpec, learning_rate: float, input_shape: tuple[int, ...],
                precision: str) -> Any:
    """The process's compiled model for this shape, set to ``spec`` and to the initial state a fresh
    ``build_model`` would have under the current seed. Call after ``keras.utils.set_random_seed``."""
    fresh = build_model(n_classes, RegularizerSpec(), learning_rate, input_shape, compile=False)  # seeded draws first
    key = (n_classes, tuple(input_shape), float(learning_rate), str(precision))
    entry = _POOL.get(key)
    if entry is None:
        entry = _POOL[key] = _compile(n_classes, learning_rate, input_shape)
    _copy(fresh.variables, entry.model.variables)
    _copy(entry.optimizer_start, entry.model.optimizer.variables)
    l1, l2 = spec.penalty_weights()
    applied = set(PLACEMENT_ARGS[spec.placement]) if spec.kind != "none" else set()
    for (_, arg), penalty in entry.penalties.items():
        penalty.set(l1, l2) if arg in applied else penalty.set(0.0, 0.0)
    return entry.model


def _compile(n_classes: int, learning_rate: float, input_shape: tuple[int, ...]) -> _Compiled:
    penalty = _penalty_class()
    penalties = {(layer, arg): penalty() for layer in REGULARIZED_LAYERS for arg in PENALTY_ARGS}
    per_layer = {layer: {arg: penalties[(layer, arg)] for arg in PENALTY_ARGS} for layer in REGULARIZED_LAYERS}
    model = build_model(n_classes, RegularizerSpec(), learning_rate, input_shape, layer_kwargs=per_layer)
    model.optimizer.build(model.trainable_variables)
    return _Compiled(model, penalties, [v.numpy() for v in model.optimizer.variables])


def _copy(source: Any, target: Any) -> None:
    source, target = list(source), list(target)
    if len(source) != len(target):
        raise RuntimeError(f"variable count differs: {len(source)} to copy into {len(target)}")
    for s, t in zip(source, target):
        t.assign(s.numpy() if hasattr(s, "numpy") else s)


def save_variables(model: Any, directory: Path) -> None:
    """The model's variables (weights and dropout seeds), then the optimizer's, in one file."""
    arrays = [v.numpy() for v in model.variables] + [v.numpy() for v in model.optimizer.variables]
    np.savez(directory / WEIGHTS_FILE, *arrays)


def load_variables(model: Any, directory: Path, with_optimizer: bool = True) -> None:
    """Restore what ``save_variables`` wrote into a model of the same shape (or, from a checkpoint of
    an earlier version, the whole saved Keras model's variables)."""
    if not (directory / WEIGHTS_FILE).exists() and (directory / LEGACY_MODEL_FILE).exists():
        import keras

        saved_model = keras.models.load_model(directory / LEGACY_MODEL_FILE)
        arrays = [v.numpy() for v in saved_model.variables] + [v.numpy() for v in saved_model.optimizer.variables]
    else:
        with np.load(directory / WEIGHTS_FILE) as saved:
            arrays = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    n = len(model.variables)
    _copy(arrays[:n], model.variables)
    if with_optimizer:
        _copy(arrays[n:], model.optimizer.variables)
