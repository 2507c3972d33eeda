"""ASHA with the baseline kept and late bloomers spared (sweep.search.rungs), on hand-made results."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from ray.tune.schedulers import TrialScheduler

from sweep.internals.ray_internals import ASHA_STOP_COUNTER
from sweep.search.rungs import BaselineAwareASHA, keeps_pace
from sweep.search.searcher import is_baseline
from trainables import names

CONT, STOP = TrialScheduler.CONTINUE, TrialScheduler.STOP


def test_keeps_pace_is_the_baseline_less_k_binomial_standard_errors():
    se = math.sqrt(0.9 * 0.1 / 400)  # 1.5 points on 400 validation examples
    assert keeps_pace(0.9 - 0.99 * se, 0.9, 400, 1.0)
    assert not keeps_pace(0.9 - 1.01 * se, 0.9, 400, 1.0)
    assert keeps_pace(0.9 - 1.9 * se, 0.9, 400, 2.0)
    assert keeps_pace(0.95, 0.9, 400, 1.0), "ahead of the baseline"
    assert not keeps_pace(0.95, None, 400, 1.0), "no baseline value at that epoch yet"
    assert not keeps_pace(0.9, 0.9, 400, 0.0), "0 = off"
    assert not keeps_pace(float("nan"), 0.9, 400, 1.0)


def _scheduler(spare: float, n_val: int = 287) -> BaselineAwareASHA:
    s = BaselineAwareASHA(metric_name="val_accuracy", max_t=25, grace_period=5, reduction_factor=4,
                          is_baseline=is_baseline, val_examples=n_val, spare_within_se=spare)
    assert s.set_search_properties("val_accuracy", "max")
    return s


def _trial(trial_id: str, regularizer: str = "l2") -> SimpleNamespace:
    penalty = {"placement": "activity", "lambda": 0.01} if regularizer != "none" else {}
    return SimpleNamespace(trial_id=trial_id, config={"regularizer": regularizer, **penalty})


def _run(s: BaselineAwareASHA, sequence: list[tuple[str, int, float]]) -> list[str]:
    trials: dict[str, SimpleNamespace] = {}
    actions = []
    for trial_id, epoch, acc in sequence:
        if trial_id not in trials:
            trials[trial_id] = _trial(trial_id, "none" if trial_id == "base" else "l2")
            s.on_trial_add(None, trials[trial_id])
        actions.append(s.on_trial_result(None, trials[trial_id],
                                         {"training_iteration": epoch, "val_accuracy": acc}))
    return actions


# The fidelity benchmark's rung at epoch 5 on digits (287 validation examples): the baseline at 0.927, the
# best at 0.941, and elastic net on activity at 0.920 (2 examples behind), tied first at the full budget.
SEQUENCE = [("base", 5, 0.927), ("a", 5, 0.941), ("late", 5, 0.920), ("weak", 5, 0.85)]


def test_asha_alone_stops_the_late_bloomer_and_the_weak_trial():
    assert _run(_scheduler(0.0), SEQUENCE) == [CONT, CONT, STOP, STOP]


def test_a_trial_within_one_standard_error_of_the_baseline_goes_on_and_a_weak_one_still_stops():
    s = _scheduler(1.0)
    assert _run(s, SEQUENCE) == [CONT, CONT, CONT, STOP]
    assert s.spared == {"late": [5]}
    assert getattr(s, ASHA_STOP_COUNTER) == 1, "ASHA's own count: the weak trial, not the spared one"


def test_before_the_baseline_reaches_the_rung_asha_decides_alone():
    s = _scheduler(1.0)
    assert _run(s, [("a", 5, 0.941), ("b", 5, 0.945), ("late", 5, 0.920), ("base", 5, 0.927)]) == [
        CONT, CONT, STOP, CONT]


def test_while_the_baseline_lags_its_latest_epoch_is_the_bar():
    """The baseline at epoch 4 (0.925) when the late bloomer reaches the rung at 5 (0.920, within one
    standard error of 0.925): spared. The rule read the baseline at the same epoch only, so while the
    baseline lagged, sparing was silently off."""
    s = _scheduler(1.0)
    actions = _run(s, [("base", 4, 0.925), ("a", 5, 0.941), ("b", 5, 0.945), ("late", 5, 0.920)])
    assert actions == [CONT, CONT, CONT, CONT] and s.spared == {"late": [5]}
    far_behind = _scheduler(1.0)
    assert _run(far_behind, [("base", 4, 0.925), ("a", 5, 0.941), ("b", 5, 0.945), ("weak", 5, 0.85)])[-1] == STOP


def test_the_baseline_runs_to_the_end_even_when_asha_would_stop_it():
    s = _scheduler(0.0)
    assert _run(s, [("a", 5, 0.99), ("b", 5, 0.995), ("base", 5, 0.5)]) == [CONT, CONT, CONT]
    assert getattr(s, ASHA_STOP_COUNTER) == 0


@pytest.mark.parametrize("spare", [1.0, 0.0])
def test_the_sweep_builds_it_from_the_config_and_the_validation_size(spare):
    from sweep.config.compose import load_config
    from sweep.search.tuner import make_asha

    s = make_asha(load_config([f"scheduler.spare_within_se={spare}"]), val_examples=287)
    assert s.set_search_properties("val_accuracy", "max")
    late = _run(s, SEQUENCE)[2]
    assert late == (CONT if spare else STOP)


def test_the_fidelity_benchmark_counts_top3_configs_stopped_with_and_without_sparing():
    from sweep.bench.calibration import fidelity_rows
    from sweep.bench.search import _key
    from sweep.search.searcher import BASELINE_CONFIG

    def key(lam: float) -> str:
        return _key({"regularizer": "l2", "placement": "activity", "lambda": lam})

    curves = {_key(BASELINE_CONFIG): [0.90, 0.95], key(1e-1): [0.95, 0.96], key(1e-2): [0.89, 0.99],
              key(1e-3): [0.80, 0.98], key(1e-4): [0.50, 0.60], key(1e-5): [0.40, 0.50], key(1e-6): [0.30, 0.40],
              key(1e-7): [0.20, 0.30]}
    (row,) = fidelity_rows(curves, [1], reduction_factor=4, val_examples=100, spare_within_se=1.0)
    # kept: the top 2 of 8 at epoch 1 (1e-1 and the baseline); 1e-2 (1 point behind the baseline, whose
    # standard error on 100 examples is 3 points) is spared; 1e-3 (10 behind) is not
    assert (row["kept"], row["top3_stopped"], row["spared"], row["top3_stopped_sparing"]) == (2, 2, 1, 1)


def test_a_spared_trial_is_said_on_the_console_and_told_to_the_driver_even_after_a_restore(capsys):
    import pickle

    from sweep.common import spares

    s = _scheduler(1.0)
    _run(s, SEQUENCE)
    assert spares.spared_at("late") == [5] and spares.spared_at("weak") == []
    line = [l for l in capsys.readouterr().out.splitlines() if "trial late " in l]
    assert line and "spared at the rung at epoch 5 (val_accuracy 0.9200, no regularization 0.9270" in line[0]
    assert line[0].endswith("ASHA alone would have stopped it")
    spares._SPARED.clear()  # a new driver process: the resume
    pickle.loads(pickle.dumps(s))
    assert spares.spared_at("late") == [5], "the restored scheduler tells the driver again"


def test_the_spared_count_is_a_column_of_results_and_of_the_report_table():
    from sweep.report.html_tables import trials_table_html
    from sweep.report.summary import TrialRecord, trials_table

    metrics = {"val_accuracy": 0.95, "test_accuracy": 0.94, "epoch": 25, "finished": 1.0, "diverged": 0.0,
               "collapsed": 0.0}
    table = trials_table([TrialRecord("a", {"regularizer": "l2", "placement": "activity", "lambda": 0.01},
                                      {**metrics, names.SPARED: 2.0}, False, names.PHASE_SEARCH, 0),
                          TrialRecord("b", {"regularizer": "none"}, metrics, False, names.PHASE_SEARCH, 0)])
    assert dict(zip(table[names.COL_TRIAL], table[names.SPARED])) == {"a": 2, "b": 0}
    assert "<th>spared</th>" in trials_table_html(table)
