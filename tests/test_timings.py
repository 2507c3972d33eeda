"""Where a sweep's time goes: phases from the driver's marks and the trials' results, on hand-made times."""

from __future__ import annotations

import json

import pytest

from sweep.config.schema import SweepConfig
from sweep.runtime.timings import FINISHED, LAUNCHED, Timeline, TrialTimes
from sweep.search.tuner import concurrent_trials
from trainables import names


def _timeline() -> Timeline:
    t = Timeline("x", {LAUNCHED: 100.0, FINISHED: 160.0})
    # trial a: its trainable began at 110 (first result at 118 after 8 s), 3 s of setup -> first step at 113
    t.trials["a"] = TrialTimes(started=109.0, ended=150.5, results=[
        {"at": 118.0, "time_this_iter_s": 8.0, names.TIME_SETUP_S: 3.0, names.TIME_FIT_S: 4.0},
        {"at": 150.0, "time_this_iter_s": 1.0, names.TIME_FIT_S: 0.9}])
    t.trials["b"] = TrialTimes(started=111.0, ended=157.0, results=[
        {"at": 121.0, "time_this_iter_s": 9.0, names.TIME_SETUP_S: 1.0},
        {"at": 156.0, "time_this_iter_s": 1.0}])
    return t


def test_phases_run_from_launch_to_the_first_training_step_and_from_the_last_result_to_the_end():
    phases = _timeline().phases()
    assert phases == {"startup_s": 13.0, "trials_s": 43.0, "teardown_s": 4.0, "total_s": 60.0}


def test_a_timeline_survives_its_json_file(tmp_path):
    t = _timeline()
    again = Timeline.from_json(json.loads(t.write(tmp_path).read_text()))
    assert again.phases() == t.phases() and again.trials["a"].results == t.trials["a"].results


def test_a_sweep_with_no_results_has_no_startup_figure():
    assert Timeline("x", {LAUNCHED: 1.0, FINISHED: 2.0}).phases()["startup_s"] is None


@pytest.mark.parametrize("cpus,gpus,cpus_per_trial,gpu_share,limit,expected", [
    (2, 0, 1, 0.0, 0, 2),       # every trial the local CPUs hold starts at once
    (16, 1, 1, 0.25, 0, 4),     # four trials share the one GPU
    (16, 0, 4, 0.0, 0, 4),
    (1, 0, 2, 0.0, 0, 1),       # never less than one
    (16, 0, 1, 0.0, 3, 3),      # the user's limit wins
])
def test_concurrency_is_what_the_cluster_holds_unless_the_user_limits_it(cpus, gpus, cpus_per_trial, gpu_share,
                                                                         limit, expected):
    cfg = SweepConfig()
    cfg.cluster.cpus_per_trial = cpus_per_trial
    cfg.search.max_concurrent_trials = limit
    assert concurrent_trials(cfg, cpus, gpus, gpu_share) == expected
