"""Putting regularizers on the layers of any Keras model by rebuilding it from its config.

Keras reads a layer's regularizers when the layer is built: one set on a built layer is silently
ignored. So the model is cloned (``keras.models.clone_model``, nested models included), each
supporting layer re-created from its own config with the regularizer arguments added, and the
original's weights are copied in: the clone starts from exactly the weights the user's seeded
function gave.

A layer *supports* regularization when it has a weight matrix with a regularizer argument: Dense,
Conv*, EinsumDense, the recurrent layers, Embedding (its ``embeddings`` are its kernel), depthwise and
separable convolutions. Placements map onto that layer's own arguments (``PLACEMENT_TO_ARGS``).
Subclassed models have no config to rebuild from; ``SubclassedModelError`` says what to do.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

from trainables import names
from trainables.errors import ConfigError

#: Weight-matrix regularizer arguments (the "kernel" placement), with the weight each one penalizes.
KERNEL_ARGS: dict[str, str] = {
    "kernel_regularizer": "kernel",
    "embeddings_regularizer": "embeddings",
    "depthwise_regularizer": "depthwise_kernel",
    "pointwise_regularizer": "pointwise_kernel",
    "recurrent_regularizer": "recurrent_kernel",
}
BIAS_ARG = "bias_regularizer"
ACTIVITY_ARG = "activity_regularizer"
#: Which kinds of argument each placement fills.
PLACEMENT_KINDS: dict[str, tuple[str, ...]] = {
    names.KERNEL: ("kernel",),
    names.BIAS: ("bias",),
    names.ACTIVITY: ("activity",),
    names.KERNEL_BIAS: ("kernel", "bias"),
}
#: The kind (kernel, bias, activity) each regularizer argument belongs to.
KIND_OF_ARG: dict[str, str] = {**{arg: "kernel" for arg in KERNEL_ARGS}, BIAS_ARG: "bias", ACTIVITY_ARG: "activity"}
#: The config key of the hook: a model function with this parameter places the regularizers itself.
HOOK_PARAM = "regularizers"


class SubclassedModelError(ConfigError):
    """A subclassed ``keras.Model`` cannot be rebuilt from its config."""

    def __init__(self, target: str, cls: str) -> None:
        super().__init__(
            "model", f"{target} returns a subclassed model ({cls}), which Keras cannot rebuild with "
            "regularizers from its config",
            f"build it with the functional API or keras.Sequential, or give the function a "
            f"`{HOOK_PARAM}` parameter and pass regularizers.kernel(), .bias() and .activity() to your "
            f"layers yourself (README, 'Your own model and data')")


def layer_args(layer: Any) -> dict[str, tuple[str, ...]]:
    """The regularizer arguments of ``layer`` by kind (kernel, bias, activity); empty when the layer
    has no weight matrix to regularize."""
    kernel = tuple(arg for arg in KERNEL_ARGS if hasattr(layer, arg))
    if not kernel:
        return {}
    has_bias = hasattr(layer, BIAS_ARG) and bool(getattr(layer, "use_bias", True))
    return {"kernel": kernel, "bias": (BIAS_ARG,) if has_bias else (), "activity": (ACTIVITY_ARG,)}


def placement_args(args_by_kind: Mapping[str, Sequence[str]], placement: str) -> tuple[str, ...]:
    """The arguments of one layer that ``placement`` fills."""
    return tuple(arg for kind in PLACEMENT_KINDS[placement] for arg in args_by_kind.get(kind, ()))


def walk_layers(model: Any) -> Iterator[Any]:
    """Every layer, depth first, nested models' layers included (not the nested models themselves)."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from walk_layers(layer)
        else:
            yield layer


def check_rebuildable(model: Any, target: str) -> None:
    """Raise ``SubclassedModelError`` unless ``model`` (and every model nested in it) is Sequential
    or functional."""
    import keras

    from trainables.keras_internals import is_sequential_or_functional

    if not isinstance(model, keras.Model):
        raise ConfigError("model", f"{target} returned a {type(model).__name__}, not a keras.Model",
                          "return the model from the function (keras.Sequential, keras.Model(inputs, outputs))")
    if not is_sequential_or_functional(model):
        raise SubclassedModelError(target, type(model).__name__)
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            check_rebuildable(layer, target)


def select_layers(model: Any, include: Sequence[str], exclude: Sequence[str]) -> dict[str, dict[str, tuple[str, ...]]]:
    """Layer name -> its regularizer arguments by kind, for the supporting layers that ``include``
    (names or class names; empty = all) and ``exclude`` leave. A name that matches no layer is an
    error: a typo must not silently regularize everything or nothing."""
    layers = list(walk_layers(model))
    known = {layer.name for layer in layers} | {type(layer).__name__ for layer in layers}
    for key, wanted in (("regularize.include", include), ("regularize.exclude", exclude)):
        unknown = [w for w in wanted if w not in known]
        if unknown:
            supporting = [f"{layer.name} ({type(layer).__name__})" for layer in layers if layer_args(layer)]
            raise ConfigError(key, f"{', '.join(map(repr, unknown))} is no layer name or layer type of the model",
                              f"use names or types of its layers that take regularizers: {', '.join(supporting)}")
    chosen = {}
    for layer in layers:
        args = layer_args(layer)
        tags = {layer.name, type(layer).__name__}
        if not args or (include and not tags & set(include)) or tags & set(exclude):
            continue
        chosen[layer.name] = args
    return chosen


#: ``make(layer_name, arg)`` gives the regularizer object for that argument, or None for none.
MakeRegularizer = Callable[[str, str], Optional[Any]]


def with_regularizers(model: Any, table: Mapping[str, Mapping[str, Sequence[str]]], make: MakeRegularizer) -> Any:
    """A clone of ``model`` whose layers in ``table`` get ``make``'s regularizers (uncompiled, new
    weights: copy the original's in with ``copy_variables``)."""
    import keras

    def clone(layer: Any) -> Any:
        config = layer.get_config()
        for arg in (a for args in table.get(layer.name, {}).values() for a in args):
            regularizer = make(layer.name, arg)
            if regularizer is not None:
                config[arg] = regularizer
        return layer.__class__.from_config(config)

    return keras.models.clone_model(model, clone_function=clone, recursive=True)


def applied_layers(table: Mapping[str, Mapping[str, Sequence[str]]], spec_kind: str, placement: str) -> list[str]:
    """The layers a trial's regularizer lands on (none: no layer)."""
    if spec_kind == names.NONE:
        return []
    return [layer for layer, args in table.items() if placement_args(args, placement)]


def kernel_weights(model: Any) -> dict[str, Any]:
    """Layer name -> its weight matrix (the penalized ``kernel``, ``embeddings``, ...) for every
    supporting layer, nested models included: what weight sparsity is measured on."""
    out = {}
    for layer in walk_layers(model):
        for arg, attr in KERNEL_ARGS.items():
            if not hasattr(layer, arg):
                continue
            weight = getattr(layer, attr, None)
            if weight is None and hasattr(layer, "cell"):
                weight = getattr(layer.cell, attr, None)
            if weight is not None:
                out[layer.name if attr in ("kernel", "embeddings") else f"{layer.name}.{attr}"] = weight
    return out
