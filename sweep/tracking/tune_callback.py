"""``TrialRunLogger``: the ``tune.Callback`` that turns Tune's trial events into MLflow records.

It only enqueues (``sweep.tracking.trial_runs.TrialRunWriter`` delivers), so the Tune loop never waits on the
tracking server. Ray pickles the callback into the experiment and unpickles it on ``Tuner.restore``;
a live writer (a thread, an HTTP client) cannot travel in a pickle, so the callback keeps only its
writer's key and finds the writer that the resumed driver opened under that key.
"""

from __future__ import annotations

from typing import Any, Optional

from ray.tune import Callback

from sweep.common.labels import config_label
from sweep.tracking.records import Record, end_record, epoch_record, start_record
from sweep.tracking.trial_runs import TrialRunWriter
from trainables import names
from trainables.model.source import ModelSource
from sweep.common import spares
from trainables.settings import TrainSettings
from trainables.trainable import trial_params

#: The writers of this driver process, with the training settings and model their trials log, by
#: parent run id.
_WRITERS: dict[str, tuple[TrialRunWriter, TrainSettings, Optional[ModelSource]]] = {}

STATE_PENDING = "pending"


def run_name(config: dict, settings: TrainSettings) -> str:
    """A child run's name as a person reads it, the way the console labels the trial:
    ``L2 on activity, λ=0.01 · seed 0`` (the trial id is the run's ``regsweep.trial_id`` tag)."""
    seed = config.get(names.SEED)
    return f"{config_label(config)} · seed {settings.seed if seed is None else int(seed)}"


def register(writer: TrialRunWriter, settings: TrainSettings, source: Optional[ModelSource] = None) -> str:
    """Make ``writer`` (and the settings and model its trials log as params) findable by the
    callbacks of its sweep, those unpickled on resume included; return its key."""
    _WRITERS[writer.info.parent_run_id] = (writer, settings, source)
    return writer.info.parent_run_id


def unregister(writer: TrialRunWriter) -> None:
    _WRITERS.pop(writer.info.parent_run_id, None)


class TrialRunLogger(Callback):
    """One MLflow child run per trial, written from the driver."""

    def __init__(self, key: str) -> None:
        self.key = key

    @property
    def writer(self) -> TrialRunWriter:
        return self._registered()[0]

    def _registered(self) -> tuple[TrialRunWriter, TrainSettings, Optional[ModelSource]]:
        try:
            return _WRITERS[self.key]
        except KeyError:
            raise RuntimeError(f"no MLflow writer is open for parent run {self.key}") from None

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        _, settings, source = self._registered()
        self.writer.submit(start_record(trial.trial_id, run_name(trial.config, settings),
                                        trial_params(trial.config, settings, source)))

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        spared = spares.spared_at(trial.trial_id)
        if spared:  # Ray lets callbacks add to the result in place: it becomes the trial's last result too
            result[names.SPARED] = float(len(spared))
        self.writer.submit(epoch_record(trial.trial_id, result, spared))

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.writer.submit(end_record(trial.trial_id, trial.last_result, False, trial.checkpoint))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.writer.submit(end_record(trial.trial_id, trial.last_result, True, None))

    def get_state(self) -> Optional[dict]:
        """The records not yet delivered: Ray saves them with the experiment."""
        pending = self.writer.pending()
        return {STATE_PENDING: pending} if pending else None

    def set_state(self, state: dict) -> None:
        records: list[Record] = list(state.get(STATE_PENDING, []))
        self.writer.restore(records)

    def __getstate__(self) -> dict:
        return {"key": self.key}
