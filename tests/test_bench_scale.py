"""The scale benchmark's own arithmetic: memory per ended trial as a slope past start-up."""

from __future__ import annotations

from sweep.bench.scale import memory_slope_kb, replay_makespan, wait_at_barrier


def test_memory_per_ended_trial_is_the_slope_after_a_tenth_of_the_trials_ended():
    # start-up jumps (300 -> 500 MB while the first 64 trials run), then 0.05 MB per ended trial
    samples = [(0, 300.0), (0, 500.0), (50, 500.0)] + [(n, 500.0 + 0.05 * n) for n in range(100, 1001, 100)]
    assert memory_slope_kb(samples, 1000) == 51.2


def test_too_few_samples_after_start_up_give_no_slope():
    assert memory_slope_kb([(0, 300.0), (150, 310.0), (150, 311.0)], 1000) is None


def test_the_driver_env_quiets_mlflows_links_and_keeps_what_the_user_set(monkeypatch):
    """MLflow prints two links per ended run and asks the server for the run's name to do so: one extra
    request per trial, which the scale benchmark paid and the launcher does not."""
    import os

    from sweep.search.tuner import DRIVER_TUNE_ENV
    from sweep.session import set_driver_env
    from sweep.tracking.retry import DRIVER_MLFLOW_ENV

    for key in ("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", *DRIVER_MLFLOW_ENV, *DRIVER_TUNE_ENV):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "90")
    set_driver_env()
    assert os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] == "true"
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "90"
    assert all(os.environ[k] == v for k, v in DRIVER_TUNE_ENV.items())


class _Clock:
    """A clock under which the n-th suggestion takes n ms: each pair of readings is one suggestion."""

    def __init__(self) -> None:
        self.now, self.reads = 0.0, 0

    def __call__(self) -> float:
        self.reads += 1
        if self.reads % 2 == 0:
            self.now += self.reads // 2 / 1000
        return self.now


def test_the_suggestion_benchmark_reports_the_median_of_each_block_on_the_launchers_space(tmp_path):
    import json

    import optuna

    from sweep.bench.__main__ import main
    from sweep.bench.suggest import suggestion_times

    rows, study = suggestion_times(60, 20, clock=_Clock())
    assert rows == [(20, 10.5), (40, 30.5), (60, 50.5)], "the median ms of each block's own suggestions"
    assert len(study.trials) == 60 and all("regularizer" in t.params for t in study.trials)
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    assert 30 <= pruned <= 54, "about 7 in 10 told as pruned, as ASHA stops most"
    assert main(["suggest", "--trials", "20", "--block", "10", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "suggest.json").read_text())
    assert report["trials"] == 20 and [n for n, _ in report["ms_by_block"]] == [10, 20]


def test_the_replay_keeps_the_tail_that_the_ideal_leaves_out():
    # 2 slots: 1+1 then 1+1 fill both, and the last 4 s trial runs alone: 6 s, where the ideal says 4
    assert replay_makespan([1, 1, 1, 1, 4], 2) == 6.0
    # in start order: the long trial first overlaps the short ones
    assert replay_makespan([4, 1, 1, 1, 1], 2) == 4.0
    assert replay_makespan([], 64) == 0.0


def test_the_start_barrier_lifts_when_the_whole_wave_has_started(tmp_path):
    import threading

    from sweep.bench.scale import LIFTED

    waiters = [threading.Thread(target=wait_at_barrier, args=(str(tmp_path), 3, 30.0)) for _ in range(2)]
    for w in waiters:
        w.start()
    for w in waiters:
        w.join(0.5)
    assert all(w.is_alive() for w in waiters) and not (tmp_path / LIFTED).exists()  # 2 of 3 wait
    wait_at_barrier(str(tmp_path), 3, 30.0)  # the third lifts it
    for w in waiters:
        w.join(5.0)
    assert not any(w.is_alive() for w in waiters) and (tmp_path / LIFTED).exists()
    wait_at_barrier(str(tmp_path), 3, 30.0)  # a later trial passes at once
    assert sum(1 for p in tmp_path.iterdir() if p.name.startswith("trial-")) == 3
