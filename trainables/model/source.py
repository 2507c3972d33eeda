"""Where a trial's model comes from: the seed CNN, or the user's ``model=<module>:<function>``.

A ``ModelSource`` is a small picklable description that travels to the workers (through
``tune.with_parameters``) and into every checkpoint's ``progress.json``, so that a worker, the
driver logging a model, or a resumed sweep all build the same model. It gives:

- ``fresh()``: the model as the user's function builds it under the current seed, without
  regularizers: the initial weights every trial starts from;
- ``regularized(make)``: the compiled model with ``make``'s regularizer on each selected layer (the
  reusable model's variable penalties, or one trial's real Keras regularizers), plus the table of
  which layer got which argument.

Two ways to get regularizers in: rebuild the model from its config (``trainables.model.rebuild``; the
default, for Sequential and functional models), or the hook: a function with a ``regularizers``
parameter receives a ``Regularizers`` and puts ``.kernel()``, ``.bias()``, ``.activity()`` on its
layers itself (subclassed models). A model the user compiled keeps its optimizer and loss; one that
was not gets the seed's Adam and sparse categorical cross-entropy (``from_logits`` when its last
layer is not a softmax). ``accuracy`` is always the metric: the sweep ranks on it.
"""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Mapping, Optional

import numpy as np

from trainables import names
from trainables.errors import ConfigError
from trainables.model.rebuild import (HOOK_PARAM, KIND_OF_ARG, PLACEMENT_KINDS, check_rebuildable, layer_args,
                                select_layers, walk_layers, with_regularizers)
from trainables.model.regularizers import RegularizerSpec

SEED_CNN = "seed_cnn"
#: layer name -> {kind: regularizer arguments}: which arguments of which layer the sweep fills.
LayerTable = dict[str, dict[str, tuple[str, ...]]]
#: ``make(layer, kind)``: the regularizer object for that layer's kernel, bias or activity, or None.
MakeByKind = Callable[[Optional[str], str], Optional[Any]]


class Regularizers:
    """What a model function with a ``regularizers`` parameter receives: call ``kernel()``,
    ``bias()`` and ``activity()`` for each layer that should take the sweep's regularizer and pass
    the results as ``kernel_regularizer=``, ``bias_regularizer=`` and ``activity_regularizer=``.
    Each returns a new Keras regularizer, or None where the trial's placement puts none."""

    def __init__(self, make: MakeByKind) -> None:
        self._make = make

    def kernel(self) -> Optional[Any]:
        return self._make(None, "kernel")

    def bias(self) -> Optional[Any]:
        return self._make(None, "bias")

    def activity(self) -> Optional[Any]:
        return self._make(None, "activity")


def spec_maker(spec: RegularizerSpec) -> MakeByKind:
    """The Keras regularizers of one trial: ``spec``'s penalty where its placement says."""
    kinds = PLACEMENT_KINDS[spec.placement] if spec.kind != names.NONE else ()

    def make(layer: Optional[str], kind: str) -> Optional[Any]:
        return spec.regularizer() if kind in kinds else None

    return make


def placeholder_maker() -> MakeByKind:
    """A zero penalty for every kind: builds the model with every place a regularizer can go filled,
    so the table lists them all (the hook's layers included) while training is unchanged."""
    def make(layer: Optional[str], kind: str) -> Any:
        import keras

        return keras.regularizers.L1L2(l1=0.0, l2=0.0)

    return make


@dataclass(frozen=True)
class ModelSource:
    """The model of every trial of a sweep (see the module docstring)."""

    target: str = SEED_CNN
    """``seed_cnn`` or ``module:function``."""
    n_classes: int = 10
    input_shape: tuple[int, ...] = (28, 28, 1)
    input_dtype: str = "float32"
    learning_rate: float = 1e-3
    """Adam's learning rate when the sweep compiles the model (a user-compiled model keeps its own)."""
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    table: Optional[LayerTable] = field(default=None, compare=False)
    """Filled by the driver's check (``with_table``), for params and the summary."""

    @property
    def is_seed(self) -> bool:
        return self.target == SEED_CNN

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("table")
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "ModelSource":
        return cls(target=str(values["target"]), n_classes=int(values["n_classes"]),
                   input_shape=tuple(int(v) for v in values["input_shape"]), input_dtype=str(values["input_dtype"]),
                   learning_rate=float(values["learning_rate"]), include=tuple(values.get("include", ())),
                   exclude=tuple(values.get("exclude", ())))

    def with_table(self, table: LayerTable) -> "ModelSource":
        return replace(self, table=table)

    # --- building ---
    def function(self) -> Callable[..., Any]:
        from trainables.user_code import load_callable

        return load_callable(self.target, "model")

    def uses_hook(self) -> bool:
        """True when the user's function takes the regularizers itself."""
        if self.is_seed:
            return False
        try:
            return HOOK_PARAM in inspect.signature(self.function()).parameters
        except (TypeError, ValueError):
            return False

    def fresh(self) -> Any:
        """The model as built under the current seed, with no regularizer (its weights built)."""
        if self.is_seed:
            from trainables.model.seed_cnn import build_model

            return build_model(self.n_classes, RegularizerSpec(), self.learning_rate, self.input_shape, compile=False)
        if self.uses_hook():
            return self._call(Regularizers(lambda layer, kind: None))
        return self._call()

    def regularized(self, make: MakeByKind, fresh: Any = None) -> tuple[Any, LayerTable]:
        """The compiled model with ``make``'s regularizers on the selected layers, and the table of
        those layers. Its weights are ``fresh``'s when given, else new draws."""
        if self.uses_hook():
            model = self._call(Regularizers(make))
            table = _hooked_table(model)
            template = model
        else:
            template = fresh if fresh is not None else self.fresh()
            check_rebuildable(template, self.target)
            table = select_layers(template, self.include, self.exclude)
            model = with_regularizers(template, table, lambda layer, arg: make(layer, KIND_OF_ARG[arg]))
            _ensure_built(model, self.input_shape, self.input_dtype)
        if fresh is not None:
            copy_variables(fresh.variables, model.variables)
        compile_like(model, template, self.learning_rate)
        return model, table

    def plain(self, spec: RegularizerSpec) -> Any:
        """One trial's model with real Keras regularizer objects (what the driver logs to MLflow)."""
        return self.regularized(spec_maker(spec))[0]

    def _call(self, regularizers: Optional[Regularizers] = None) -> Any:
        fn = self.function()
        try:
            model = fn(**({HOOK_PARAM: regularizers} if regularizers is not None else {}))
        except ConfigError:
            raise
        except Exception as exc:
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            raise ConfigError("model", f"{self.target}() raised {type(exc).__name__}: {first}",
                              "fix the function; call it in Python to see the whole error") from None
        import keras

        if not isinstance(model, keras.Model):
            raise ConfigError("model", f"{self.target}() returned a {type(model).__name__}, not a keras.Model",
                              "return the model (keras.Sequential, keras.Model(inputs, outputs))")
        _ensure_built(model, self.input_shape, self.input_dtype)
        return model


def _hooked_table(model: Any) -> LayerTable:
    """Which layers the user's function gave a regularizer, read from the built layers."""
    table: LayerTable = {}
    for layer in walk_layers(model):
        found: dict[str, list[str]] = {}
        for kinds in layer_args(layer).values():
            for arg in kinds:
                if getattr(layer, arg, None) is not None:
                    found.setdefault(KIND_OF_ARG[arg], []).append(arg)
        if found:
            table[layer.name] = {kind: tuple(args) for kind, args in found.items()}
    return table


def _ensure_built(model: Any, input_shape: tuple[int, ...], dtype: str) -> None:
    """Build a model whose weights do not exist yet (a subclassed model, a Sequential without Input)."""
    if model.built and model.weights:
        return
    model(np.zeros((1, *input_shape), dtype=dtype))


def is_user_compiled(model: Any) -> bool:
    return bool(getattr(model, "compiled", False)) and getattr(model, "optimizer", None) is not None


def outputs_probabilities(model: Any) -> bool:
    """True when the last layer ends in a softmax (or sigmoid): the loss then takes probabilities."""
    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    name = getattr(activation, "__name__", "") if activation is not None else ""
    return name in ("softmax", "sigmoid") or type(last).__name__ == "Softmax"


def compile_like(model: Any, template: Any, learning_rate: float) -> None:
    """Compile ``model`` with ``template``'s optimizer (a fresh one of the same config) and loss when
    the user compiled it, else as the seed: Adam and sparse categorical cross-entropy."""
    import keras

    if is_user_compiled(template):
        optimizer = keras.optimizers.deserialize(keras.optimizers.serialize(template.optimizer))
        loss = template.loss
    else:
        optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=not outputs_probabilities(template))
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])


def copy_variables(source: Any, target: Any) -> None:
    """Assign ``source``'s values to ``target``'s variables, in order (same model structure)."""
    source, target = list(source), list(target)
    if len(source) != len(target):
        raise RuntimeError(f"variable count differs: {len(source)} to copy into {len(target)}")
    for s, t in zip(source, target):
        value = s.numpy() if hasattr(s, "numpy") else s
        if tuple(np.shape(value)) != tuple(t.shape):
            raise RuntimeError(f"variable {getattr(t, 'path', t)} has shape {tuple(t.shape)}, not {np.shape(value)}")
        t.assign(value)
