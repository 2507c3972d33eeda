"""What a regularizer does to the weights: kernel sparsity, kernel norms, activation sparsity.

The arithmetic works on plain NumPy arrays so it can be checked exactly on hand-built weights;
only the two ``model_*`` helpers touch Keras.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from trainables import names


@dataclass(frozen=True)
class SparsityReport:
    """Kernel-weight figures for one model."""

    overall: float
    """Fraction of all kernel weights with |w| < threshold."""
    per_layer: dict[str, float] = field(default_factory=dict)
    """The same fraction per layer."""
    l1_norm: float = 0.0
    """Sum of |w| over all kernels."""
    l2_norm: float = 0.0
    """Euclidean norm of all kernels together."""

    def as_metrics(self) -> dict[str, float]:
        """Flat metric dict using the contract names."""
        metrics = {
            names.SPARSITY: self.overall,
            names.KERNEL_L1_NORM: self.l1_norm,
            names.KERNEL_L2_NORM: self.l2_norm,
        }
        metrics.update({names.layer_sparsity_metric(k): v for k, v in self.per_layer.items()})
        return metrics


def kernel_sparsity(kernels: Mapping[str, np.ndarray], threshold: float) -> SparsityReport:
    """Sparsity and norms of ``kernels`` (layer name -> kernel array)."""
    if threshold <= 0:
        raise ValueError(f"sparsity threshold must be > 0, got {threshold}")
    total = 0
    small = 0
    per_layer: dict[str, float] = {}
    l1 = 0.0
    sq = 0.0
    for layer, kernel in kernels.items():
        w = np.asarray(kernel, dtype=np.float64)
        n_small = int(np.count_nonzero(np.abs(w) < threshold))
        per_layer[layer] = n_small / w.size if w.size else 0.0
        total += w.size
        small += n_small
        l1 += float(np.abs(w).sum())
        sq += float(np.square(w).sum())
    return SparsityReport(
        overall=small / total if total else 0.0,
        per_layer=per_layer,
        l1_norm=l1,
        l2_norm=float(np.sqrt(sq)),
    )


def activation_sparsity(activations: Sequence[np.ndarray]) -> float:
    """Fraction of exactly-zero values over all given activation tensors."""
    total = sum(int(np.size(a)) for a in activations)
    if total == 0:
        return 0.0
    zeros = sum(int(np.count_nonzero(np.asarray(a) == 0)) for a in activations)
    return zeros / total


def model_kernels(model: Any) -> dict[str, np.ndarray]:
    """Weight matrices (kernels, embeddings) of every layer that has one, keyed by layer name."""
    from trainables.model.rebuild import kernel_weights

    return {name: np.asarray(weight) for name, weight in kernel_weights(model).items()}


def relu_layers(model: Any) -> list[Any]:
    """The model's top-level layers whose output is a ReLU (an activation or a ReLU layer)."""
    out = []
    for layer in model.layers:
        activation = getattr(layer, "activation", None)
        if getattr(activation, "__name__", "") == "relu" or type(layer).__name__ == "ReLU":
            out.append(layer)
    return out


#: Where a model keeps its ReLU probe (the reused model of ``trainables.model.reusable`` lives for many trials).
_PROBE_ATTR = "_regsweep_relu_zeros"


def model_activation_sparsity(model: Any, x_batch: np.ndarray) -> float:
    """Mean fraction of zero ReLU outputs of the model on one batch (every epoch: one graph call);
    NaN for a model with no ReLU output it can reach."""
    count = getattr(model, _PROBE_ATTR, None)
    if count is None:
        count = _zero_counter(model)
        setattr(model, _PROBE_ATTR, count)
    if count is False:
        return float("nan")
    zeros, total = count(x_batch)
    return float(zeros) / float(total) if float(total) else 0.0


def _zero_counter(model: Any) -> Any:
    """A traced function of a batch: (zero ReLU outputs, all ReLU outputs). Built and traced once per
    model: an eager probe costs twice as much per call, and building it more than running it."""
    import keras
    import tensorflow as tf

    layers = relu_layers(model)
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):  # a subclassed model has no symbolic graph to probe
        return False
    if not layers or not inputs:
        return False
    probe = keras.Model(inputs=inputs, outputs=[layer.output for layer in layers])

    @tf.function(reduce_retracing=True)
    def count(x: Any) -> Any:
        outputs = tf.nest.flatten(probe([x], training=False))  # one ReLU layer: a tensor, not a list
        zeros = tf.add_n([tf.reduce_sum(tf.cast(tf.equal(o, 0), tf.float64)) for o in outputs])
        total = tf.add_n([tf.cast(tf.size(o), tf.float64) for o in outputs])
        return zeros, total

    return count
