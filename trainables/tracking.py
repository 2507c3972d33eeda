"""Worker-side MLflow logging: one child run per trial, found again when Ray retries the trial.

Trials talk to the tracking server over HTTP with ``MlflowClient`` (artifacts go through the
server's proxy), so no shared filesystem is needed. A retried trial looks its child run up by the
trial-id tag and continues it, skipping epochs it already logged, so the history has no gaps and no
duplicated steps.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from trainables import names


@dataclass(frozen=True)
class TrackingInfo:
    """What a trial needs to log under its sweep's parent run."""

    uri: str
    experiment_id: str
    parent_run_id: str
    sweep: str


def find_trial_run(client: Any, info: TrackingInfo, trial_id: str) -> Optional[Any]:
    """The child run of ``trial_id`` under the sweep's parent run, if it exists."""
    runs = client.search_runs(
        [info.experiment_id],
        filter_string=(f"tags.`{names.TAG_PARENT_RUN}` = '{info.parent_run_id}' "
                       f"and tags.`{names.TAG_TRIAL_ID}` = '{trial_id}'"),
        max_results=2,
    )
    return runs[0] if runs else None


class TrialRun:
    """The MLflow child run of one trial."""

    def __init__(self, info: TrackingInfo, trial_id: str, trial_name: str, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        self.info = info
        self.client = MlflowClient(tracking_uri=info.uri)
        existing = find_trial_run(self.client, info, trial_id)
        if existing is None:
            run = self.client.create_run(
                info.experiment_id,
                run_name=trial_name,
                tags={names.TAG_PARENT_RUN: info.parent_run_id, names.TAG_TRIAL_ID: trial_id,
                      names.TAG_SWEEP: info.sweep, names.TAG_ROLE: names.ROLE_TRIAL,
                      names.TAG_STATE: names.STATE_RUNNING},
            )
            self.run_id = run.info.run_id
            self.last_logged_epoch = 0
            self.client.log_batch(self.run_id, params=[Param(k, str(v)) for k, v in params.items()])
        else:  # a retry: continue the same run
            self.run_id = existing.info.run_id
            history = self.client.get_metric_history(self.run_id, names.EPOCH)
            self.last_logged_epoch = int(max((m.step for m in history), default=0))
            self.client.update_run(self.run_id, status="RUNNING")

    def log_epoch(self, metrics: Mapping[str, float], epoch: int) -> None:
        """Log one epoch's metrics at ``step=epoch``, unless an earlier attempt already did."""
        from mlflow.entities import Metric

        if epoch <= self.last_logged_epoch:
            return
        now = int(time.time() * 1000)
        batch = [Metric(k, _finite(v), now, epoch) for k, v in metrics.items()
                 if k not in (names.EPOCH,)]
        batch.append(Metric(names.EPOCH, float(epoch), now, epoch))  # last: marks the epoch as logged
        for start in range(0, len(batch), 200):
            self.client.log_batch(self.run_id, metrics=batch[start:start + 200])
        self.last_logged_epoch = epoch

    def close(self, state: str) -> None:
        """Tag the end state and end the run (FINISHED, or FAILED for a diverged trial)."""
        self.client.set_tag(self.run_id, names.TAG_STATE, state)
        self.client.set_terminated(self.run_id, status=run_status(state))

    def log_model(self, model: Any, example: Any) -> None:
        """Log the trained Keras model as ``model``, with signature and input example."""
        import keras
        import mlflow
        import tensorflow as tf
        from mlflow.models import infer_signature

        from mlflow.models import Model

        signature = infer_signature(example, model.predict(example, verbose=0))
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


def run_status(state: str) -> str:
    """MLflow run status for a trial end state."""
    return "FAILED" if state in (names.STATE_DIVERGED, names.STATE_ERRORED) else "FINISHED"


def _finite(value: float) -> float:
    """MLflow stores NaN but not +-inf portably; keep NaN, clip inf to the float range."""
    v = float(value)
    if math.isinf(v):
        return math.copysign(1.7976931348623157e308, v)
    return v
