"""Collapse detection: chance level from the labels, and a real L1 trial that collapses on digits."""

from __future__ import annotations

import numpy as np
import pytest

from sweep.search.searcher import end_state
from trainables import names
from trainables.metrics.collapse import chance_ceiling, is_collapsed
from trainables.data.load import load_dataset
from trainables.data.types import DataSpec
from trainables.settings import TrainSettings
from trainables.trainable import run_trial


def test_chance_ceiling_comes_from_the_class_count_and_the_majority_class():
    balanced = np.repeat(np.arange(10), 30)  # 300 labels, 10 classes
    ceiling = chance_ceiling(balanced, 10)
    assert 0.1 < ceiling < 0.16, "chance is 1/10 plus a margin of a few examples"
    skewed = np.array([0] * 270 + [1] * 30)  # guessing class 0 is right 90% of the time
    assert chance_ceiling(skewed, 2) > 0.9


def test_collapse_is_only_judged_from_the_grace_period_on():
    assert not is_collapsed(0.1, epoch=1, ceiling=0.14, after=2)
    assert is_collapsed(0.1, epoch=2, ceiling=0.14, after=2)
    assert not is_collapsed(0.5, epoch=5, ceiling=0.14, after=2)
    assert not is_collapsed(0.1, epoch=5, ceiling=0.14, after=0), "0 turns the check off"


@pytest.fixture(scope="module")
def digits():
    return load_dataset(DataSpec(name="digits"))


def test_a_large_l1_penalty_collapses_and_stops_right_after_the_grace_period(digits):
    reports = []
    config = {names.REGULARIZER: names.L1, names.PLACEMENT: names.KERNEL_BIAS, names.LAMBDA: 0.05}
    settings = TrainSettings(epochs=12, batch_size=64, collapse_after=2, threads=2)
    last = run_trial(config, digits, settings, report=lambda m, c: reports.append((dict(m), c)))
    epochs = [int(m[names.EPOCH]) for m, _ in reports]
    assert epochs[-1] <= 3, f"a trial at chance level trains at most grace period + 1 epochs, got {epochs}"
    assert last[names.COLLAPSED] == 1.0 and last[names.FINISHED] == 1.0 and last[names.DIVERGED] == 0.0
    assert last[names.VAL_ACCURACY] <= chance_ceiling(digits.y_val, digits.n_classes)
    assert names.TEST_ACCURACY not in last, "a collapsed trial is not evaluated as a finished one"
    assert reports[-1][1] is not None, "its last epoch is checkpointed, so a restart does not train it again"
    assert end_state(last, error=False) == names.STATE_COLLAPSED


def test_a_healthy_trial_does_not_collapse(digits):
    settings = TrainSettings(epochs=3, batch_size=64, collapse_after=2, threads=2)
    last = run_trial({names.REGULARIZER: names.NONE}, digits, settings, report=lambda m, c: None)
    assert last[names.COLLAPSED] == 0.0 and last[names.EPOCH] == 3 and names.TEST_ACCURACY in last
