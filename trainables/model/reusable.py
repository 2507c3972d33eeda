"""One compiled model per trial process, reused by every trial Ray runs in that process.

Tracing ``fit``'s train and test functions for a new model costs about 2 s on 2 cores (on a GPU,
XLA compilation comes on top): more than two epochs of digits, paid by every trial. Ray reuses a
worker process across trials (``reuse_actors``), so the process keeps one compiled model per model
source whose penalties are variables (on every selected layer and argument). Each trial sets its
penalty strengths, copies in the seeded initial weights (and dropout seeds) that the source's fresh
build gives for its seed, and resets the optimizer: it
trains the same model, from the same start, as a freshly built one, without tracing again.

Checkpoints hold only variables (``weights.npz``): the model's, then the optimizer's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainables.model.source import ModelSource, copy_variables
from trainables.model.rebuild import PLACEMENT_KINDS
from trainables.model.regularizers import RegularizerSpec

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
            # in float32 whatever the compute dtype: under mixed precision the loss adds penalties in
            # float32 (a float16 sum raises there), and a float16 sum of conv activations overflows
            # past 65,504 to inf, where 0 * inf is NaN even for an unused penalty
            x = ops.cast(x, "float32")
            return self.l1 * ops.sum(ops.absolute(x)) + self.l2 * ops.sum(ops.square(x))

        def set(self, l1: float, l2: float) -> None:
            self.l1.assign(l1)
            self.l2.assign(l2)

        def get_config(self) -> dict[str, float]:
            return {"l1": float(self.l1.numpy()), "l2": float(self.l2.numpy())}

    return TunablePenalty


@dataclass
class _Compiled:
    model: Any
    penalties: list[tuple[str, Any]]
    """(kind, penalty): kernel, bias or activity, each set from the trial's spec."""
    optimizer_start: list[np.ndarray]


_POOL: dict[tuple[Any, ...], _Compiled] = {}


def trial_model(source: ModelSource, spec: RegularizerSpec, precision: str) -> Any:
    """The process's compiled model for ``source``, set to ``spec`` and to the initial state a fresh
    build would have under the current seed. Call after ``keras.utils.set_random_seed``."""
    fresh = source.fresh()  # the seeded draws first, so they do not depend on what the pool held
    key = (source.target, source.n_classes, source.input_shape, source.input_dtype, float(source.learning_rate),
           source.include, source.exclude, str(precision))
    entry = _POOL.get(key)
    if entry is None:
        entry = _POOL[key] = _compile(source, fresh)
    copy_variables(fresh.variables, entry.model.variables)
    copy_variables(entry.optimizer_start, entry.model.optimizer.variables)
    l1, l2 = spec.penalty_weights()
    kinds = set(PLACEMENT_KINDS[spec.placement]) if spec.kind != "none" else set()
    for kind, penalty in entry.penalties:
        penalty.set(l1, l2) if kind in kinds else penalty.set(0.0, 0.0)
    return entry.model


def _compile(source: ModelSource, fresh: Any) -> _Compiled:
    penalty = _penalty_class()
    penalties: list[tuple[str, Any]] = []

    def make(layer: Any, kind: str) -> Any:
        penalties.append((kind, penalty()))
        return penalties[-1][1]

    model, _ = source.regularized(make, fresh=fresh)
    model.optimizer.build(model.trainable_variables)
    return _Compiled(model, penalties, [v.numpy() for v in model.optimizer.variables])


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
    copy_variables(arrays[:n], model.variables)
    if with_optimizer:
        copy_variables(arrays[n:], model.optimizer.variables)
