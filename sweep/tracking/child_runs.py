"""The MLflow calls behind each record: create a trial's child run, log its epochs, end it with its state
and model. Every call is idempotent, so a retry after a lost answer changes nothing: a start finds the
run an earlier try made by its start key, and epochs the run already holds are skipped. The writer
(``sweep.tracking.trial_runs``) decides when to call, and retries through an outage."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Optional

from sweep.common.states import run_status
from sweep.tracking.records import Record, TrackingInfo
from sweep.tracking.retry import call_with_retry
from trainables import names

#: Metrics per ``log_batch`` (MLflow's limit is 1,000).
BATCH_METRICS = 1000


@dataclass
class _RunState:
    run_id: str
    logged: set[int]
    attempts: int
    node_id: str = ""
    ended: bool = False


class ChildRuns:
    """The child runs of one sweep's trials, as this driver process knows them."""

    def __init__(self, info: TrackingInfo, client: Any, fresh: bool = False, example: Any = None,
                 source: Any = None) -> None:
        """``fresh``: the parent run is new, so no child run exists that this process did not create
        (no search per new trial: that query grows with the experiment). ``example``: the model's input
        example. ``source``: the sweep's own ``ModelSource``, the only model function a logged
        checkpoint may name."""
        self.info = info
        self.client = client
        self.fresh = fresh
        self.example = example
        self.source = source
        self._runs: dict[str, _RunState] = {}
        self.errors: list[str] = []
        """Records whose model could not be logged (the run still ended)."""

    def remove_lost_runs(self, known_trials: set[str]) -> int:
        """Soft-delete child runs of trials that Ray's restored state does not know (call after a
        flush): a launcher killed before Ray saved a trial it had started leaves that trial's run
        behind, and Ray trains the config again under a new id. MLflow keeps deleted runs (its
        "deleted" view), so nothing is erased."""
        runs = call_with_retry(lambda: self.client.search_runs(
            [self.info.experiment_id], filter_string=f"tags.`{names.TAG_PARENT_RUN}` = '{self.info.parent_run_id}'",
            max_results=5000), "listing the child runs", self.info.max_outage_s)
        lost = [r for r in runs if r.data.tags.get(names.TAG_TRIAL_ID) not in known_trials]
        for run in lost:
            call_with_retry(lambda: self.client.delete_run(run.info.run_id), "removing a lost child run",
                            self.info.max_outage_s)
        return len(lost)

    def run_ids(self) -> dict[str, str]:
        """Trial id -> the child run made or found for it so far."""
        return {trial: run.run_id for trial, run in self._runs.items()}

    def apply(self, record: Record) -> None:
        if record.kind == "start":
            self._start(record)
            return
        run = self._runs.get(record.trial) or self._open_existing(record.trial)
        if run is None or run.ended:
            return  # never started in MLflow (nothing to add to), or ended before the driver died
        if record.kind == "epoch":
            self._epochs(run, [record])
        else:
            self._end(run, record)

    def apply_group(self, records: list[Record]) -> None:
        """One trial's epochs (and its end): their metrics in one ``log_batch``, then the end. An end
        with no model to log rides in that batch as its state tag, so the end costs one request
        (``set_terminated``) instead of two: a trial ASHA stops early is 4 requests, not 5."""
        run = self._runs.get(records[0].trial) or self._open_existing(records[0].trial)
        if run is None or run.ended:
            return
        end = records[-1] if records[-1].kind == "end" else None
        fold = end is not None and end.checkpoint is None
        folded = self._epochs(run, [r for r in records if r.kind == "epoch"], state=end.state if fold else "")
        if end is not None:
            self._end(run, end, state_logged=folded)

    def _start(self, record: Record) -> None:
        from mlflow.entities import Param, RunTag

        run = self._runs.get(record.trial) or self._open_existing(record.trial)
        if run is not None and run.ended:
            return  # finished before the driver died: Ray only reports it again
        if record.attempt is None:
            record.attempt = (run.attempts if run is not None else 0) + 1
        if run is None and record.key:  # an earlier try may have made it, its answer lost
            run = self._find_started(record)
        if run is None:
            record.key = record.key or uuid.uuid4().hex
            created = self.client.create_run(self.info.experiment_id, run_name=record.run_name, tags={
                names.TAG_START_KEY: record.key,
                names.TAG_PARENT_RUN: self.info.parent_run_id, names.TAG_TRIAL_ID: record.trial,
                names.TAG_SWEEP: self.info.sweep, names.TAG_ROLE: names.ROLE_TRIAL,
                names.TAG_STATE: names.STATE_RUNNING, names.TAG_ATTEMPTS: str(record.attempt)})
            run = _RunState(created.info.run_id, set(), record.attempt)
            self._runs[record.trial] = run
        self.client.log_batch(run.run_id, params=[Param(k, str(v)) for k, v in record.params.items()],
                              tags=[RunTag(names.TAG_ATTEMPTS, str(record.attempt))])
        if record.attempt > 1:
            self.client.update_run(run.run_id, status=names.RUN_RUNNING)
        run.attempts = record.attempt

    def _find_started(self, record: Record) -> Optional[_RunState]:
        """The run an earlier try of ``record`` created, found by its start key (fresh mode too)."""
        found = self.client.search_runs(
            [self.info.experiment_id], filter_string=f"tags.`{names.TAG_START_KEY}` = '{record.key}'", max_results=1)
        if not found:
            return None
        run = _RunState(found[0].info.run_id, set(), record.attempt or 1)
        self._runs[record.trial] = run
        return run

    def _open_existing(self, trial_id: str) -> Optional[_RunState]:
        """The trial's child run as MLflow holds it (first touch in this driver process), or None."""
        if self.fresh:
            return None
        found = self.client.search_runs(
            [self.info.experiment_id],
            filter_string=(f"tags.`{names.TAG_PARENT_RUN}` = '{self.info.parent_run_id}' "
                           f"and tags.`{names.TAG_TRIAL_ID}` = '{trial_id}'"),
            max_results=1,
        )
        if not found:
            return None
        existing = found[0]
        logged = {int(m.step) for m in self.client.get_metric_history(existing.info.run_id, names.EPOCH)}
        run = _RunState(existing.info.run_id, logged, int(existing.data.tags.get(names.TAG_ATTEMPTS, "1")),
                        ended=existing.data.tags.get(names.TAG_STATE, names.STATE_RUNNING) != names.STATE_RUNNING)
        self._runs[trial_id] = run
        return run

    def _epochs(self, run: _RunState, records: list[Record], state: str = "") -> bool:
        """The epochs the run does not hold yet, in as few ``log_batch`` calls as MLflow allows, the
        ``state`` tag (when given) with the last of them. True when the state tag went out."""
        from mlflow.entities import Metric, RunTag

        epochs = [r for r in records if r.epoch not in run.logged]
        if not epochs:
            return False
        metrics = [Metric(k, v, ts, r.epoch) for r in epochs for k, v, ts in r.metrics]
        node = next((r.node_id for r in reversed(epochs) if r.node_id), "")
        tags = [RunTag(names.TAG_NODE_ID, node)] if node and node != run.node_id else []
        spared = next((r.spared for r in reversed(epochs) if r.spared), "")
        if spared:  # the rungs at which the scheduler spared it so far
            tags.append(RunTag(names.TAG_SPARED, spared))
        starts = range(0, len(metrics), BATCH_METRICS)
        for start in starts:
            batch_tags = tags if start == 0 else []
            if state and start == starts[-1]:
                batch_tags = [*batch_tags, RunTag(names.TAG_STATE, state)]
            self.client.log_batch(run.run_id, metrics=metrics[start:start + BATCH_METRICS], tags=batch_tags)
        run.logged.update(r.epoch for r in epochs)
        run.node_id = node or run.node_id
        return bool(state)

    def _end(self, run: _RunState, record: Record, state_logged: bool = False) -> None:
        """The model (from a completed trial's checkpoint), the state tag unless the epochs' batch
        carried it (``state_logged``), then the run's end status."""
        if record.checkpoint is not None:
            from trainables.trainable import ForeignCheckpoint

            try:
                self._log_model(run.run_id, record.checkpoint)
            except ForeignCheckpoint as exc:  # never imported: the run still ends with its state
                self.errors.append(f"{record.what}: {exc}")
                print(f"regsweep: WARNING: model of {record.what} not logged: {exc}", flush=True)
            record.checkpoint = None  # logged: a retry of the end does not log it twice
        if not state_logged:
            self.client.set_tag(run.run_id, names.TAG_STATE, record.state)
        self.client.set_terminated(run.run_id, status=run_status(record.state))
        run.ended = True

    def _log_model(self, run_id: str, checkpoint: Any) -> None:
        """Log the Keras model of the trial's final checkpoint as ``model``, with signature and input
        example, exactly as ``mlflow.keras.log_model`` would."""
        from trainables.tf_runtime import driver_tensorflow
        from trainables.trainable import checkpoint_model

        tf = driver_tensorflow()
        import keras
        import mlflow
        from mlflow.models import Model, infer_signature

        with checkpoint.as_directory() as ckpt_dir:
            model = checkpoint_model(ckpt_dir, self.source)
        # checkpoint_model clears Keras' session, which turns its progress bars back on; MLflow then
        # predicts on the input example and would draw one in the middle of the console
        keras.utils.disable_interactive_logging()
        example = self.example
        signature = infer_signature(example, model.predict(example, verbose=0)) if example is not None else None
        previous = mlflow.get_tracking_uri()
        mlflow.set_tracking_uri(self.info.uri)
        try:
            with mlflow.start_run(run_id=run_id):
                # Same call as mlflow.keras.log_model, through a flavor that creates the model directory
                # first: mlflow 3.17's keras save_model writes the input example before creating it.
                Model.log(artifact_path=None, name=names.MODEL_NAME, flavor=_KerasFlavor, model=model,
                          signature=signature, input_example=example,
                          pip_requirements=[f"tensorflow=={tf.__version__}", f"keras=={keras.__version__}"])
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
