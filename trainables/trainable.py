"""The trial: build the seed CNN with one regularizer, train one epoch per report, checkpoint, test.

``run_trial`` is the plain loop and runs anywhere (tests, benchmarks, notebooks); ``tune_trainable``
is the Ray Tune 2.60 function trainable around it (``ray.tune.report``, ``tune.Checkpoint``,
``tune.get_checkpoint``). Arrays arrive through ``tune.with_parameters`` (Ray's object store), so a
trial never reads, decodes or downloads data.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import tempfile
import time
from pathlib import Path
from dataclasses import asdict, replace
from typing import Any, Callable, Mapping, Optional

import numpy as np

from trainables import names
from trainables.metrics.collapse import chance_ceiling, is_collapsed
from trainables.data.types import Dataset, model_input, resplit
from trainables.model.source import ModelSource
from trainables.metrics.pruning import pruning_metrics
from trainables.metrics.removable import removable_fraction
from trainables.model.rebuild import applied_layers
from trainables.model.regularizers import RegularizerSpec
from trainables.model.reusable import LEGACY_MODEL_FILE, load_variables, save_variables, trial_model
from trainables.settings import TrainSettings
from trainables.metrics.sparsity import kernel_sparsity, model_activation_sparsity, model_kernels
from trainables.tf_runtime import prepare_tensorflow

#: Called once per epoch with the metrics and, when one was written, a checkpoint directory.
ReportFn = Callable[[dict[str, float], Optional[str]], None]

PROGRESS_FILE = "progress.json"
#: The key of progress.json that holds the checkpointed epoch's metrics.
PROGRESS_METRICS = "metrics"
#: The key of progress.json that says how to rebuild the model (``checkpoint_model``).
PROGRESS_MODEL = "model"
#: Under it: the ``ModelSource`` (absent in checkpoints from before user models: the seed CNN).
PROGRESS_SOURCE = "source"
#: Training settings logged as MLflow params of every trial (threads is a resource detail).
LOGGED_SETTINGS = ("epochs", "batch_size", "learning_rate", "seed", "sparsity_threshold",
                   "checkpoint_every", "precision", "collapse_after")


def trial_params(config: Mapping[str, Any], settings: TrainSettings,
                 source: Optional[ModelSource] = None) -> dict[str, Any]:
    """The contract params of a trial plus its training settings (with the trial's own seed) and,
    when the source's layer table is known, the model and the layers its regularizer lands on."""
    spec = RegularizerSpec.from_trial_config(config)
    params = spec.as_params()
    params.update({k: v for k, v in asdict(settings_for(config, settings)).items() if k in LOGGED_SETTINGS})
    if config.get(names.SPLIT_SEED) is not None:
        params[names.SPLIT_SEED] = int(config[names.SPLIT_SEED])
    if source is not None:
        params[names.MODEL] = source.target
        if source.table is not None:
            layers = applied_layers(source.table, spec.kind, spec.placement)
            params[names.REGULARIZED_LAYERS] = layers_param(layers)
    return params


def layers_param(layers: list[str]) -> str:
    """A list of layer names as one MLflow param value (MLflow keeps 6,000 characters)."""
    text = ",".join(layers) if layers else "none"
    return text if len(text) <= 6000 else text[:5980] + f",... ({len(layers)} layers)"


def default_source(data: Dataset, settings: TrainSettings) -> ModelSource:
    """The seed CNN, shaped for ``data``."""
    return ModelSource(n_classes=data.n_classes, input_shape=tuple(int(d) for d in data.x_train.shape[1:]),
                       input_dtype=str(data.x_train.dtype), learning_rate=settings.learning_rate)


def settings_for(config: Mapping[str, Any], settings: TrainSettings) -> TrainSettings:
    """The sweep's settings, with the weight seed of a confirmation run when its config carries one."""
    if config.get(names.SEED) is None:
        return settings
    return replace(settings, seed=int(config[names.SEED]))


def run_trial(
    config: Mapping[str, Any],
    data: Dataset,
    settings: TrainSettings,
    report: ReportFn,
    restore_dir: str | None = None,
    source: Optional[ModelSource] = None,
) -> dict[str, float]:
    """Train one trial to the end (or to divergence) and return its last metrics.

    ``restore_dir`` is a checkpoint directory written by an earlier call: training resumes at the
    epoch after the one it holds, with the saved weights and optimizer state. ``source`` is the
    model (default: the seed CNN shaped for ``data``).
    """
    started = time.perf_counter()
    spec = RegularizerSpec.from_trial_config(config)
    settings = settings_for(config, settings)
    if config.get(names.SPLIT_SEED) is not None:  # a confirmation run: its seed's own split
        data = resplit(data, int(config[names.SPLIT_SEED]))
    tf = prepare_tensorflow(settings.threads)
    import keras

    # no clear_session(): it would drop TensorFlow's kernel cache, which the reused model's next
    # first epoch then rebuilds; set_random_seed resets Keras' global seed generator itself
    keras.mixed_precision.set_global_policy(settings.precision)
    keras.utils.set_random_seed(settings.seed)

    source = source or default_source(data, settings)
    model = trial_model(source, spec, settings.precision)
    done = 0
    if restore_dir:
        load_variables(model, Path(restore_dir))
        done = json.loads((Path(restore_dir) / PROGRESS_FILE).read_text())[names.EPOCH]
    shape = {PROGRESS_SOURCE: source.as_dict(), "config": spec.as_params()}

    train_ds = _pipeline(tf, data.x_train, data.y_train, settings, shuffle=True, pixels=data.pixels)
    val_ds = _pipeline(tf, data.x_val, data.y_val, settings, shuffle=False, pixels=data.pixels)
    probe = model_input(data, data.x_val[: settings.activation_batch])
    terminate_on_nan = keras.callbacks.TerminateOnNaN()
    ceiling = chance_ceiling(data.y_val, data.n_classes)

    last: dict[str, float] = {}
    setup_s: float | None = time.perf_counter() - started
    for epoch in range(done + 1, settings.epochs + 1):
        fit_start = time.perf_counter()
        history = model.fit(
            train_ds,
            validation_data=val_ds,
            initial_epoch=epoch - 1,
            epochs=epoch,
            shuffle=False,  # the tf.data pipeline already shuffles, seeded
            verbose=0,
            callbacks=[terminate_on_nan],
        ).history
        metrics = _epoch_metrics(model, history, val_ds, epoch)
        metrics[names.TIME_FIT_S] = time.perf_counter() - fit_start
        if setup_s is not None:  # the first epoch of this start: how long the trial took to get going
            metrics[names.TIME_SETUP_S], setup_s = setup_s, None
        diverged = not math.isfinite(metrics[names.LOSS])
        collapsed = not diverged and is_collapsed(metrics[names.VAL_ACCURACY], epoch, ceiling,
                                                  settings.collapse_after or 0)
        metrics.update(kernel_sparsity(model_kernels(model), settings.sparsity_threshold).as_metrics())
        metrics[names.ACTIVATION_SPARSITY] = model_activation_sparsity(model, probe)
        is_last = epoch == settings.epochs
        if settings.removable_every_epoch or (is_last and not diverged and not collapsed):
            metrics[names.REMOVABLE] = 0.0 if diverged else removable_fraction(  # 0 at chance: collapsed too
                model, lambda: model.evaluate(val_ds, verbose=0, return_dict=True)[names.ACCURACY],
                metrics[names.VAL_ACCURACY], settings.removable_tolerance, ceiling)
        metrics[names.DIVERGED] = float(diverged)
        metrics[names.COLLAPSED] = float(collapsed)
        metrics[names.FINISHED] = float(is_last or diverged or collapsed)
        if is_last and not diverged and not collapsed:
            test_ds = _pipeline(tf, data.x_test, data.y_test, settings, shuffle=False, pixels=data.pixels)
            test = model.evaluate(test_ds, verbose=0, return_dict=True)
            metrics[names.TEST_LOSS] = float(test["loss"])
            metrics[names.TEST_ACCURACY] = float(test[names.ACCURACY])
            metrics.update(pruning_metrics(
                model, lambda: model.evaluate(test_ds, verbose=0, return_dict=True)[names.ACCURACY],
                settings.sparsity_threshold))
        write_ckpt = not diverged and (is_last or collapsed or epoch % settings.checkpoint_every == 0)
        _report_with_checkpoint(model, metrics, report, write_ckpt, shape)
        last = metrics
        if diverged or collapsed:  # a NaN model or one at chance level: end cleanly, never retry
            break
    return last


def tune_trainable(config: dict[str, Any], data: Dataset, settings: TrainSettings,
                   source: Optional[ModelSource] = None) -> None:
    """Ray Tune function trainable: resumes from ``tune.get_checkpoint()`` when Ray restarts it.
    It reports to Tune only; the driver logs every result to MLflow (``sweep.tracking.trial_runs``)."""
    import ray
    from ray import tune

    node_id = ray.get_runtime_context().get_node_id()

    def report(metrics: dict[str, float], ckpt_dir: str | None) -> None:
        checkpoint = tune.Checkpoint.from_directory(ckpt_dir) if ckpt_dir else None
        tune.report({**metrics, names.NODE_ID: node_id}, checkpoint=checkpoint)

    checkpoint = tune.get_checkpoint()  # opened once: on remote storage it is a download
    with (checkpoint.as_directory() if checkpoint else contextlib.nullcontext()) as restore_dir:
        done = final_metrics(restore_dir, settings) if restore_dir else None
        if done is not None:  # finished before the driver died: nothing to train or log again
            report(done, None)
            return
        run_trial(config, data, settings, report, restore_dir=restore_dir, source=source)


class ForeignCheckpoint(Exception):
    """A checkpoint names another model function than the sweep runs: it is not imported."""


def checkpoint_model(ckpt_dir: str, source: Optional[ModelSource] = None) -> Any:
    """The trained model of a checkpoint, as a plain Keras model (the trial's regularizer objects,
    compiled as in the trial): what the driver logs to MLflow. Needs the checkpoint directory, and
    the user's model function importable where it runs.

    ``source``: the driver's own model, from the launcher's config. The checkpoint is written by a
    worker on shared storage, so the function it names is never imported when it differs from the
    sweep's own (``ForeignCheckpoint``): only the trial's config and weights are read from it."""
    import keras

    progress = json.loads((Path(ckpt_dir) / PROGRESS_FILE).read_text())
    if PROGRESS_MODEL not in progress:  # a checkpoint of an earlier version holds the whole model
        return keras.models.load_model(Path(ckpt_dir) / LEGACY_MODEL_FILE)
    shape = progress[PROGRESS_MODEL]
    keras.backend.clear_session(free_memory=False)
    if PROGRESS_SOURCE in shape:
        written = ModelSource.from_dict(shape[PROGRESS_SOURCE])
        if source is not None and written.target != source.target:
            raise ForeignCheckpoint(f"checkpoint {ckpt_dir} names model {written.target!r}, but this sweep runs "
                                    f"{source.target!r}; it was not imported")
        source = source if source is not None else written
    elif source is None:  # a checkpoint written before models could be the user's: the seed CNN
        source = ModelSource(n_classes=int(shape["n_classes"]), input_shape=tuple(shape["input_shape"]),
                             input_dtype="float32", learning_rate=float(shape["learning_rate"]))
    model = source.plain(RegularizerSpec.from_trial_config(shape["config"]))
    model.optimizer.build(model.trainable_variables)
    load_variables(model, Path(ckpt_dir))  # the optimizer's state too, as a saved Keras model holds it
    return model


def final_metrics(restore_dir: str, settings: TrainSettings) -> dict[str, float] | None:
    """The last epoch's metrics when ``restore_dir`` is the checkpoint of a trial that had already
    finished, else None. A driver killed between a trial's last report and Ray's next state snapshot
    makes ``Tuner.restore`` start that trial again; it then only has to report this again."""
    progress = json.loads((Path(restore_dir) / PROGRESS_FILE).read_text())
    if progress[names.EPOCH] < settings.epochs or PROGRESS_METRICS not in progress:
        return None
    return {k: float(v) for k, v in progress[PROGRESS_METRICS].items()}


def _report_with_checkpoint(
    model: Any, metrics: dict[str, float], report: ReportFn, write_ckpt: bool, shape: dict[str, Any]
) -> None:
    if not write_ckpt:
        report(metrics, None)
        return
    ckpt_dir = tempfile.mkdtemp(prefix="regsweep-ckpt-")
    try:
        save_variables(model, Path(ckpt_dir))
        (Path(ckpt_dir) / PROGRESS_FILE).write_text(json.dumps(
            {names.EPOCH: int(metrics[names.EPOCH]), PROGRESS_METRICS: metrics, PROGRESS_MODEL: shape}))
        report(metrics, ckpt_dir)  # Ray persists the directory before report() returns
    finally:
        shutil.rmtree(ckpt_dir, ignore_errors=True)


def _epoch_metrics(model: Any, history: dict[str, list[float]], val_ds: Any, epoch: int) -> dict[str, float]:
    metrics = {names.EPOCH: float(epoch)}
    for key in names.EPOCH_METRICS:
        values = history.get(key)
        metrics[key] = float(values[-1]) if values else float("nan")
    if not history.get(names.VAL_LOSS):  # TerminateOnNaN stopped the epoch before validation
        val_loss, val_acc = model.evaluate(val_ds, verbose=0)
        metrics[names.VAL_LOSS], metrics[names.VAL_ACCURACY] = float(val_loss), float(val_acc)
    return metrics


def _pipeline(tf: Any, x: np.ndarray, y: np.ndarray, settings: TrainSettings, shuffle: bool,
              pixels: bool = True) -> Any:
    """Batched, shuffled (seeded) arrays; built-in uint8 images are scaled to float32 [0, 1] per batch,
    which keeps memory at uint8 size. User data go in as they are."""
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(len(y), seed=settings.seed, reshuffle_each_iteration=True)
    ds = ds.batch(settings.batch_size)
    if pixels:
        ds = ds.map(lambda a, b: (tf.cast(a, tf.float32) / 255.0, b), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
