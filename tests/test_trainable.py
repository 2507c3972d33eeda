"""The trial loop: outside Tune, through a real Ray Tune run with checkpoint and resume, divergence."""

from __future__ import annotations

import json
import math
import os
from dataclasses import replace

import pytest

from trainables import names
from trainables.settings import TrainSettings
from trainables.trainable import final_metrics, run_trial, tune_trainable

FAST = TrainSettings(epochs=1, batch_size=64, threads=2)
L2_SMALL = {names.REGULARIZER: names.L2, names.PLACEMENT: names.KERNEL, names.LAMBDA: 1e-4}


def test_one_epoch_outside_tune_reports_every_contract_metric(digits):
    reports = []
    last = run_trial(L2_SMALL, digits, FAST, lambda m, ckpt: reports.append((m, ckpt)))
    assert len(reports) == 1
    metrics, ckpt = reports[0]
    assert ckpt is not None  # checkpoint at the last epoch
    for key in (*names.EPOCH_METRICS, names.SPARSITY, names.KERNEL_L1_NORM, names.KERNEL_L2_NORM,
                names.ACTIVATION_SPARSITY, names.TEST_LOSS, names.TEST_ACCURACY,
                "sparsity/conv1", "sparsity/conv2", "sparsity/dense1", "sparsity/output"):
        assert key in metrics and math.isfinite(metrics[key]), key
    assert metrics[names.EPOCH] == 1 and metrics[names.FINISHED] == 1 and metrics[names.DIVERGED] == 0
    assert 0 <= metrics[names.SPARSITY] <= 1 and 0 < metrics[names.ACTIVATION_SPARSITY] < 1
    assert metrics[names.VAL_ACCURACY] > 0.3, "one epoch on digits learns something"
    assert last == metrics


def test_removable_is_reported_at_the_last_epoch_or_every_epoch_when_a_rung_ranks_on_it(digits):
    """One objective: the removable fraction costs its validation passes once, at the end. Two objectives:
    MOASHA ranks each rung on it, so every epoch reports it (names.LAST_OR_EVERY_EPOCH_METRICS)."""
    for every, want in ((False, [False, True]), (True, [True, True])):
        reports = []
        run_trial(L2_SMALL, digits, replace(FAST, epochs=2, removable_every_epoch=every),
                  lambda m, c: reports.append(m))
        assert [names.REMOVABLE in m for m in reports] == want, every
        assert all(0 <= m[names.REMOVABLE] <= 1 for m in reports if names.REMOVABLE in m)


def test_diverging_trial_ends_cleanly_as_diverged(digits):
    huge = {names.REGULARIZER: names.L1, names.PLACEMENT: names.KERNEL, names.LAMBDA: 1e38}
    reports = []
    last = run_trial(huge, digits, replace(FAST, epochs=3), lambda m, c: reports.append((m, c)))
    assert len(reports) == 1, "training stops at the first non-finite loss"
    assert last[names.DIVERGED] == 1 and last[names.FINISHED] == 1
    assert not math.isfinite(last[names.LOSS])
    assert reports[0][1] is None, "a diverged model is not checkpointed"
    assert names.TEST_ACCURACY not in last


def test_checkpoint_then_resume_outside_tune(digits, tmp_path):
    import shutil

    saved = tmp_path / "ckpt"

    def keep_first(metrics, ckpt):
        if ckpt and not saved.exists():
            shutil.copytree(ckpt, saved)

    settings = replace(FAST, epochs=2)
    first = []
    run_trial(L2_SMALL, digits, replace(settings, epochs=1), lambda m, c: (first.append(m), keep_first(m, c)))
    resumed = []
    run_trial(L2_SMALL, digits, settings, lambda m, c: resumed.append(m), restore_dir=str(saved))
    assert [m[names.EPOCH] for m in resumed] == [2], "resume starts after the checkpointed epoch"
    assert resumed[-1][names.FINISHED] == 1 and names.TEST_ACCURACY in resumed[-1]


def test_a_finished_trials_last_checkpoint_holds_its_final_metrics(digits, tmp_path):
    """Tuner.restore after a driver crash may restart a trial that had finished; the final
    checkpoint lets it report its result again instead of training (or logging) once more."""
    import shutil

    kept = {}

    def keep(metrics, ckpt):
        if ckpt:
            kept[int(metrics[names.EPOCH])] = shutil.copytree(ckpt, tmp_path / f"epoch{int(metrics[names.EPOCH])}")

    settings = replace(FAST, epochs=2)
    last = run_trial(L2_SMALL, digits, settings, keep)
    assert final_metrics(str(kept[1]), settings) is None, "a mid-trial checkpoint resumes training"
    assert final_metrics(str(kept[2]), settings) == pytest.approx(last)


def test_l1_gives_clearly_higher_sparsity_than_l2_at_the_same_lambda(digits):
    settings = replace(FAST, epochs=2)
    figures = {}
    for kind in (names.L1, names.L2):
        cfg = {names.REGULARIZER: kind, names.PLACEMENT: names.KERNEL, names.LAMBDA: 0.01}
        figures[kind] = run_trial(cfg, digits, settings, lambda m, c: None)[names.SPARSITY]
    print(f"sparsity at lambda=0.01 after 2 epochs: L1 {figures['l1']:.3f}, L2 {figures['l2']:.3f}")
    assert figures[names.L1] > figures[names.L2] + 0.2


def _crash_after_first_report(config, data, settings):
    """Test harness: the first attempt dies right after its first checkpointed report."""
    from ray import tune

    if tune.get_checkpoint() is not None:
        return tune_trainable(config, data, settings)
    real_report = tune.report

    def report_then_crash(metrics, checkpoint=None):
        real_report(metrics, checkpoint=checkpoint)
        raise RuntimeError("injected crash after the first epoch")

    tune.report = report_then_crash
    try:
        tune_trainable(config, data, settings)
    finally:
        tune.report = real_report


@pytest.mark.slow
def test_real_tune_run_checkpoints_and_resumes_after_a_crash(digits, ray_local, tmp_path):
    from ray import tune

    settings = replace(FAST, epochs=2, threads=1)
    tuner = tune.Tuner(
        tune.with_parameters(_crash_after_first_report, data=digits, settings=settings),
        param_space=dict(L2_SMALL),
        run_config=tune.RunConfig(
            name="resume-test", storage_path=str(tmp_path),
            failure_config=tune.FailureConfig(max_failures=1), verbose=0,
        ),
    )
    result = tuner.fit()[0]
    assert result.error is None
    import pandas as pd

    history = pd.read_csv(os.path.join(result.path, "progress.csv"))
    assert history[names.EPOCH].tolist() == [1.0, 2.0], "epoch 1 is not repeated after the restore"
    assert history["training_iteration"].tolist() == [1, 2]
    assert result.metrics[names.FINISHED] == 1 and names.TEST_ACCURACY in result.metrics
    assert result.checkpoint is not None
    with result.checkpoint.as_directory() as d:
        assert json.load(open(os.path.join(d, "progress.json")))[names.EPOCH] == 2
