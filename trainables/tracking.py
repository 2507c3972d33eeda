"""Worker-side MLflow logging: one child run per trial, found again when Ray retries the trial.

Trials talk to the tracking server over HTTP with ``MlflowClient`` (artifacts go through the
server's proxy), so no shared filesystem is needed. A retried trial looks its child run up by the
trial-id tag and continues it, skipping epochs it already logged, so the history has no gaps and no
duplicated steps. Epoch metrics leave through a ``BackgroundSender``: training goes on while the
server is briefly away, and each batch keeps its timestamp across retries, so a batch the server
stored before its answer was lost is stored once.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from trainables import names
from trainables.retry import BackgroundSender, call_with_retry

#: How long trial logging waits out an unreachable server when the config does not say.
DEFAULT_MAX_OUTAGE_S = 300.0


@dataclass(frozen=True)
class TrackingInfo:
    """What a trial needs to log under its sweep's parent run."""

    uri: str
    experiment_id: str
    parent_run_id: str
    sweep: str
    max_outage_s: float = DEFAULT_MAX_OUTAGE_S


def find_trial_run(client: Any, info: TrackingInfo, trial_id: str) -> Optional[Any]:
    """The child run of ``trial_id`` under the sweep's parent run, if it exists."""
    runs = client.search_runs(
        [info.experiment_id],
        filter_string=(f"tags.`{names.TAG_PARENT_RUN}` = '{info.parent_run_id}' "
                       f"and tags.`{names.TAG_TRIAL_ID}` = '{trial_id}'"),
        max_results=2,
    )
    return runs[0] if runs else None


def create_trial_run(client: Any, info: TrackingInfo, trial_id: str, run_name: str,
                     extra_tags: Mapping[str, str] | None = None) -> Any:
    """A new child run for ``trial_id`` under the sweep's parent run, marked running."""
    return client.create_run(info.experiment_id, run_name=run_name, tags={
        names.TAG_PARENT_RUN: info.parent_run_id, names.TAG_TRIAL_ID: trial_id, names.TAG_SWEEP: info.sweep,
        names.TAG_ROLE: names.ROLE_TRIAL, names.TAG_STATE: names.STATE_RUNNING, **(extra_tags or {})})


class TrialRun:
    """The MLflow child run of one trial."""

    def __init__(self, info: TrackingInfo, trial_id: str, trial_name: str, params: Mapping[str, Any],
                 node_id: str = "") -> None:
        from mlflow.tracking import MlflowClient

        self.info = info
        self.client = MlflowClient(tracking_uri=info.uri)
        #: The run's final metrics when an earlier attempt already finished it, else None.
        self.finished: Optional[dict[str, float]] = None
        self.run_id, self.last_logged_epoch = call_with_retry(
            lambda: self._open(trial_id, trial_name, params, node_id),
            f"opening the child run of trial {trial_id}", info.max_outage_s)
        self.sender = BackgroundSender(info.max_outage_s)

    def _open(self, trial_id: str, trial_name: str, params: Mapping[str, Any], node_id: str) -> tuple[str, int]:
        """Find or create the child run (idempotent, so it can be retried); count this attempt.

        A run an earlier attempt already ended (the driver died after the trial logged its end but
        before Ray recorded it) is left as it is: ``finished`` holds its metrics to report again."""
        from mlflow.entities import Param, RunTag

        existing = find_trial_run(self.client, self.info, trial_id)
        if existing is None:
            run = create_trial_run(self.client, self.info, trial_id, trial_name,
                                   {names.TAG_ATTEMPTS: "1", names.TAG_NODE_ID: node_id})
            self.client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in params.items()])
            return run.info.run_id, 0
        run_id = existing.info.run_id
        if existing.data.tags.get(names.TAG_STATE) in (names.STATE_COMPLETED, *names.FAILED_CONFIG_STATES):
            self.finished = dict(existing.data.metrics)
            return run_id, int(self.finished.get(names.EPOCH, 0))
        # a retry of the trial: continue the same run
        history = self.client.get_metric_history(run_id, names.EPOCH)
        attempt = int(existing.data.tags.get(names.TAG_ATTEMPTS, "1")) + 1
        self.client.log_batch(run_id, tags=[RunTag(names.TAG_ATTEMPTS, str(attempt)),
                                            RunTag(names.TAG_NODE_ID, node_id)])
        self.client.update_run(run_id, status="RUNNING")
        return run_id, int(max((m.step for m in history), default=0))

    def log_epoch(self, metrics: Mapping[str, float], epoch: int) -> None:
        """Queue one epoch's metrics at ``step=epoch``, unless an earlier attempt already logged it."""
        if epoch <= self.last_logged_epoch:
            return
        batch = epoch_batch(metrics, epoch)
        self.sender.submit(lambda: self.client.log_batch(self.run_id, metrics=batch),
                           f"logging epoch {epoch}")
        self.last_logged_epoch = epoch

    def close(self, state: str) -> None:
        """Send what is queued, tag the end state and end the run (FAILED for a diverged trial)."""
        self.sender.drain()
        call_with_retry(lambda: self._end(state), "ending the child run", self.info.max_outage_s)

    def _end(self, state: str) -> None:
        self.client.set_tag(self.run_id, names.TAG_STATE, state)
        self.client.set_terminated(self.run_id, status=run_status(state))

    def log_model(self, model: Any, example: Any) -> None:
        """Log the trained Keras model as ``model``, with signature and input example."""
        from mlflow.models import infer_signature

        self.sender.drain()
        signature = infer_signature(example, model.predict(example, verbose=0))
        call_with_retry(lambda: self._log_model(model, example, signature), "logging the model",
                        self.info.max_outage_s)

    def _log_model(self, model: Any, example: Any, signature: Any) -> None:
        import keras
        import mlflow
        import tensorflow as tf
        from mlflow.models import Model

        previous = mlflow.get_tracking_uri()
        mlflow.set_tracking_uri(self.info.uri)
        try:
            with mlflow.start_run(run_id=self.run_id):
                # Same call as mlflow.keras.log_model, through a flavor that creates the model
                # directory first: mlflow 3.17's keras save_model writes the input example before
                # creating it and fails with FileNotFoundError whenever an example is given.
                Model.log(
                    artifact_path=None, name=names.MODEL_NAME, flavor=_KerasFlavor, model=model,
                    signature=signature,
                    input_example=example,
                    pip_requirements=[f"tensorflow=={tf.__version__}", f"keras=={keras.__version__}"],
                )
        finally:
            mlflow.set_tracking_uri(previous)


class _KerasFlavor:
    """``mlflow.keras`` with the save directory created before the input example is written."""

    __name__ = "mlflow.keras"

    @staticmethod
    def save_model(path: str, **kwargs: Any) -> None:
        import os

        import mlflow.keras

        os.makedirs(path, exist_ok=True)
        mlflow.keras.save_model(path=path, **kwargs)


def epoch_batch(metrics: Mapping[str, float], epoch: int) -> list[Any]:
    """One epoch's metrics as MLflow ``Metric``s at ``step=epoch``, stamped once (a resend of the
    same batch is then identical), with ``epoch`` last: its presence marks the epoch as logged."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    batch = [Metric(k, finite_metric(v), now, epoch) for k, v in metrics.items() if k != names.EPOCH]
    batch.append(Metric(names.EPOCH, float(epoch), now, epoch))
    return batch


def run_status(state: str) -> str:
    """MLflow run status for a trial end state."""
    return "FAILED" if state in (*names.FAILED_CONFIG_STATES, names.STATE_ERRORED) else "FINISHED"


def finite_metric(value: float) -> float:
    """MLflow stores NaN but not +-inf portably; keep NaN, clip inf to the float range."""
    v = float(value)
    if math.isinf(v):
        return math.copysign(1.7976931348623157e308, v)
    return v
