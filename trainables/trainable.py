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
from trainables.collapse import chance_ceiling, is_collapsed
from trainables.data import Dataset
from trainables.model import INPUT_SHAPE, build_model
from trainables.regularizers import RegularizerSpec
from trainables.reusable import LEGACY_MODEL_FILE, load_variables, save_variables, trial_model
from trainables.settings import TrainSettings
from trainables.sparsity import kernel_sparsity, model_activation_sparsity, model_kernels
from trainables.tf_runtime import prepare_tensorflow

#: Called once per epoch with the metrics and, when one was written, a checkpoint directory.
ReportFn = Callable[[dict[str, float], Optional[str]], None]

PROGRESS_FILE = "progress.json"
#: The key of progress.json that holds the checkpointed epoch's metrics.
PROGRESS_METRICS = "metrics"
#: The key of progress.json that says how to rebuild the model (``checkpoint_model``).
PROGRESS_MODEL = "model"
#: Training settings logged as MLflow params of every trial (threads is a resource detail).
LOGGED_SETTINGS = ("epochs", "batch_size", "learning_rate", "seed", "sparsity_threshold",
                   "checkpoint_every", "precision", "collapse_after")


def trial_params(config: Mapping[str, Any], settings: TrainSettings) -> dict[str, Any]:
    """The contract params of a trial plus its training settings (with the trial's own seed)."""
    params = RegularizerSpec.from_trial_config(config).as_params()
    params.update({k: v for k, v in asdict(settings_for(config, settings)).items() if k in LOGGED_SETTINGS})
    return params


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
) -> dict[str, float]:
    """Train one trial to the end (or to divergence) and return its last metrics.

    ``restore_dir`` is a checkpoint directory written by an earlier call: training resumes at the
    epoch after the one it holds, with the saved weights and optimizer state.
    """
    started = time.perf_counter()
    spec = RegularizerSpec.from_trial_config(config)
    settings = settings_for(config, settings)
    tf = prepare_tensorflow(settings.threads)
    import keras

    # no clear_session(): it would drop TensorFlow's kernel cache, which the reused model's next
    # first epoch then rebuilds; set_random_seed resets Keras' global seed generator itself
    keras.mixed_precision.set_global_policy(settings.precision)
    keras.utils.set_random_seed(settings.seed)

    model = trial_model(data.n_classes, spec, settings.learning_rate, INPUT_SHAPE, settings.precision)
    done = 0
    if restore_dir:
        load_variables(model, Path(restore_dir))
        done = json.loads((Path(restore_dir) / PROGRESS_FILE).read_text())[names.EPOCH]
    shape = {"n_classes": data.n_classes, "input_shape": list(INPUT_SHAPE),
             "learning_rate": settings.learning_rate, "config": spec.as_params()}

    train_ds = _pipeline(tf, data.x_train, data.y_train, settings, shuffle=True)
    val_ds = _pipeline(tf, data.x_val, data.y_val, settings, shuffle=False)
    probe = _scale(data.x_val[: settings.activation_batch])
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
        metrics[names.DIVERGED] = float(diverged)
        metrics[names.COLLAPSED] = float(collapsed)
        metrics[names.FINISHED] = float(is_last or diverged or collapsed)
        if is_last and not diverged and not collapsed:
            test_loss, test_acc = model.evaluate(
                _pipeline(tf, data.x_test, data.y_test, settings, shuffle=False), verbose=0
            )
            metrics[names.TEST_LOSS] = float(test_loss)
            metrics[names.TEST_ACCURACY] = float(test_acc)
        write_ckpt = not diverged and (is_last or collapsed or epoch % settings.checkpoint_every == 0)
        _report_with_checkpoint(model, metrics, report, write_ckpt, shape)
        last = metrics
        if diverged or collapsed:  # a NaN model or one at chance level: end cleanly, never retry
            break
    return last


def tune_trainable(config: dict[str, Any], data: Dataset, settings: TrainSettings) -> None:
    """Ray Tune function trainable: resumes from ``tune.get_checkpoint()`` when Ray restarts it.
    It reports to Tune only; the driver logs every result to MLflow (``sweep.trial_runs``)."""
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
        run_trial(config, data, settings, report, restore_dir=restore_dir)


def checkpoint_model(ckpt_dir: str) -> Any:
    """The trained model of a checkpoint, as a plain Keras model (the article's regularizer objects, compiled
    like the seed): what the driver logs to MLflow. Needs only the checkpoint directory."""
    import keras

    progress = json.loads((Path(ckpt_dir) / PROGRESS_FILE).read_text())
    if PROGRESS_MODEL not in progress:  # a checkpoint of an earlier version holds the whole model
        return keras.models.load_model(Path(ckpt_dir) / LEGACY_MODEL_FILE)
    shape = progress[PROGRESS_MODEL]
    keras.backend.clear_session(free_memory=False)
    model = build_model(int(shape["n_classes"]), RegularizerSpec.from_trial_config(shape["config"]),
                        float(shape["learning_rate"]), tuple(shape["input_shape"]))
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


def _scale(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32) / 255.0


def _pipeline(tf: Any, x: np.ndarray, y: np.ndarray, settings: TrainSettings, shuffle: bool) -> Any:
    """uint8 arrays -> batched float32 [0, 1] images, scaled per batch to keep memory at uint8 size."""
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(len(y), seed=settings.seed, reshuffle_each_iteration=True)
    ds = ds.batch(settings.batch_size)
    ds = ds.map(lambda a, b: (tf.cast(a, tf.float32) / 255.0, b), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
