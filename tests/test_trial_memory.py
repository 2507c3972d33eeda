"""What the driver keeps of an ended trial: Tune's per-metric windows are released, its results and
metric summary are not (``sweep.runtime.trial_memory``)."""

from __future__ import annotations

import json

from ray.tune.experiment import Trial
from ray.tune.trainable.metadata import _TrainingRunMetadata

from sweep.config.compose import load_config
from sweep.runtime.trial_memory import ReleaseEndedTrials
from sweep.search import tuner
from trainables import names

METRICS = (names.VAL_ACCURACY, names.ACCURACY, names.LOSS, names.VAL_LOSS, names.TIME_FIT_S)


def _ended_trial(epochs: int = 6) -> Trial:
    trial = Trial("trivial", stub=True, config={names.REGULARIZER: names.L2, names.LAMBDA: 1e-3})
    for epoch in range(1, epochs + 1):
        trial.update_last_result({names.EPOCH: float(epoch), "training_iteration": epoch,
                                  **{m: 0.5 + epoch / 100 + i / 1000 for i, m in enumerate(METRICS)}})
    return trial


def test_a_completed_trial_keeps_its_results_and_summary_but_not_tunes_last_n_windows():
    trial = _ended_trial()
    before = json.loads(trial.get_json_state()[1])
    summary = {k: dict(v) for k, v in trial.metric_analysis.items()}
    assert trial.metric_n_steps, "Tune keeps per-metric windows while a trial runs"

    ReleaseEndedTrials().on_trial_complete(0, [trial], trial)

    assert trial.metric_n_steps == {}
    assert trial.metric_analysis == summary
    assert trial.metric_analysis[names.VAL_ACCURACY]["last-5-avg"] == summary[names.VAL_ACCURACY]["last-5-avg"]
    assert trial.last_result[names.VAL_ACCURACY] == 0.56
    after_json = trial.get_json_state()[1]  # the snapshot Tune writes: recomputed, smaller, still loadable
    assert len(after_json) < len(json.dumps(before, indent=2)) / 2
    restored = _TrainingRunMetadata.from_json_state(after_json)
    assert restored.metric_analysis == summary and restored.last_result[names.EPOCH] == 6.0


def test_an_errored_trial_keeps_its_windows_since_ray_may_run_it_again():
    trial = _ended_trial()
    ReleaseEndedTrials().on_trial_error(0, [trial], trial)
    assert set(trial.metric_n_steps) >= set(METRICS)


def test_every_tuner_releases_its_ended_trials():
    cfg = load_config(["data=digits"])
    callbacks = tuner._run_config(cfg, "x").callbacks
    assert sum(isinstance(c, ReleaseEndedTrials) for c in callbacks) == 1
