"""The driver's check that the model and the data fit each other, before any trial starts.

The user's function is called once (seeded) on the driver, and the model is compiled and evaluated
on a few training examples: a wrong input shape, a wrong number of outputs, labels the loss cannot
take, a subclassed model or a selection that matches no layer are one line (exit 2) here, not a
crash in every trial. It also fixes the table of layers that take the regularizer, which every
trial logs. The seed CNN on the built-in images needs no check, and TensorFlow stays out of the
driver until models are logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainables.data.types import Dataset, model_input
from trainables.errors import ConfigError, DataError
from trainables.model.seed_cnn import REGULARIZED_LAYERS
from trainables.model.source import LayerTable, ModelSource, is_user_compiled, placeholder_maker
from trainables.model.rebuild import ACTIVITY_ARG, BIAS_ARG, layer_args, walk_layers

#: Examples the check evaluates the compiled model on.
CHECK_EXAMPLES = 8


@dataclass(frozen=True)
class ModelReport:
    """What the check found, for the console and the parent run."""

    source: ModelSource
    """With its layer table filled in."""
    layers: int
    """Layers with a weight matrix a regularizer can take (nested models' included)."""
    compiled_by: str
    """``user`` (its optimizer and loss are kept) or ``regsweep`` (Adam, sparse cross-entropy)."""
    optimizer: str
    loss: str

    def line(self) -> str:
        table = self.source.table or {}
        names = ", ".join(table) if len(table) <= 12 else ", ".join(list(table)[:12]) + f", ... ({len(table)})"
        return (f"model {self.source.target}: the regularizer goes on {len(table)} of its {self.layers} weight layers "
                f"({names}); optimizer {self.optimizer}, loss {self.loss} (compiled by {self.compiled_by})")


def seed_table() -> LayerTable:
    """The seed CNN's table: every Conv2D and Dense layer takes kernel, bias and activity penalties."""
    return {layer: {"kernel": ("kernel_regularizer",), "bias": (BIAS_ARG,), "activity": (ACTIVITY_ARG,)}
            for layer in REGULARIZED_LAYERS}


def needs_check(source: ModelSource, data: Dataset) -> bool:
    return not source.is_seed or not data.pixels or bool(source.include or source.exclude)


def check_model(source: ModelSource, data: Dataset, seed: int = 0) -> ModelReport:
    """Build, compile and evaluate the model on a few examples; raise one ``UserError`` on a mismatch."""
    if not needs_check(source, data):
        return ModelReport(source.with_table(seed_table()), len(REGULARIZED_LAYERS), "regsweep", "Adam(learning_rate="
                           f"{source.learning_rate:g})", "sparse_categorical_crossentropy")
    from trainables.tf_runtime import driver_tensorflow

    driver_tensorflow()
    import keras


    keras.utils.set_random_seed(seed)
    shape = tuple(data.x_train.shape[1:])
    if source.is_seed and len(shape) != 3:
        raise DataError(f"the seed CNN takes images (height, width, channels) but the examples have shape {shape}",
                        "pass your own model with model=<module>:<function>, or reshape x to (N, H, W, C)")
    if source.uses_hook() and (source.include or source.exclude):
        raise ConfigError("regularize.include", f"{source.target} places the regularizers itself (its "
                          "`regularizers` parameter), so regularize.include/exclude do not apply",
                          "drop regularize.include/exclude, or choose the layers inside the function")
    fresh = source.fresh()
    _check_input(fresh, shape, source.target)
    model, table = source.regularized(placeholder_maker(), fresh=fresh)
    x, y = model_input(data, data.x_train[:CHECK_EXAMPLES]), data.y_train[:CHECK_EXAMPLES]
    _check_output(model, x, data.n_classes, source.target, is_user_compiled(fresh))
    try:
        model.evaluate(x, y, verbose=0)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        raise DataError(f"{source.target} cannot be trained on the data ({type(exc).__name__}: {first})",
                        "check that the loss fits the labels (class indices 0..K-1) and the input dtype") from None
    if not table:
        raise ConfigError("regularize.include", f"no layer of {source.target} takes a regularizer "
                          f"(include={list(source.include)}, exclude={list(source.exclude)})",
                          "name layers with weights (Dense, Conv*, Embedding, ...) or clear the lists")
    return ModelReport(source.with_table(table), sum(1 for layer in walk_layers(model) if layer_args(layer)),
                       "user" if is_user_compiled(fresh) else "regsweep",
                       _describe_optimizer(model.optimizer), _describe_loss(model.loss))


def _check_input(model: Any, shape: tuple[int, ...], target: str) -> None:
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return  # a subclassed model: the evaluation below finds a mismatch
    if not inputs:
        return
    if len(inputs) != 1:
        raise ConfigError("model", f"{target} takes {len(inputs)} inputs; regsweep feeds one array x",
                          "wrap the inputs into one array, or build a single-input model")
    expected = tuple(inputs[0].shape[1:])
    if len(expected) != len(shape) or any(e is not None and e != a for e, a in zip(expected, shape)):
        raise DataError(f"the examples have shape {shape} but {target} takes {_dims(expected)}",
                        "reshape the arrays, or change the model's Input shape")


def _check_output(model: Any, x: Any, n_classes: int, target: str, user_compiled: bool) -> None:
    try:
        outputs = model.outputs
    except (AttributeError, ValueError):  # a subclassed model: run it to see its output
        outputs = None
    if outputs and len(outputs) != 1:
        raise ConfigError("model", f"{target} has {len(outputs)} outputs; regsweep trains one classifier",
                          "return a model with one output")
    units = outputs[0].shape[-1] if outputs else model(x[:1], training=False).shape[-1]
    if units == n_classes or (units == 1 and n_classes == 2 and user_compiled):
        return
    raise DataError(f"{target} has {units} output units but the labels have {n_classes} classes (0..{n_classes - 1})",
                    f"give the last layer {n_classes} units (softmax), or check the labels")


def _dims(shape: tuple[Any, ...]) -> str:
    return "(" + ", ".join("any" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _describe_optimizer(optimizer: Any) -> str:
    lr = getattr(optimizer, "learning_rate", None)
    try:
        lr_text = f"{float(lr):g}"
    except (TypeError, ValueError):
        lr_text = type(lr).__name__
    return f"{type(optimizer).__name__}(learning_rate={lr_text})"


def _describe_loss(loss: Any) -> str:
    if isinstance(loss, str):
        return loss
    name = getattr(loss, "name", None) or type(loss).__name__
    return f"{name}(from_logits)" if getattr(loss, "from_logits", False) else str(name)
