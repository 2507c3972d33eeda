"""Summary table, ranking, best config, edge-of-range note, Pareto front, CSV and plots."""

from __future__ import annotations

import pandas as pd
import pytest

from sweep.config.schema import SearchConfig
from sweep.report.plots import pareto_front, write_plots
from sweep.report.summary import (
    TrialRecord, best_config, best_trial, lambda_edge_note, render_table, trials_table, write_csv,
)
from trainables import names


def _rec(trial, config, acc, finished=1.0, diverged=0.0, epochs=4, error=False, test=None, sparsity=0.1):
    metrics = {names.VAL_ACCURACY: acc, names.FINISHED: finished, names.DIVERGED: diverged,
               names.EPOCH: epochs, names.SPARSITY: sparsity}
    if test is not None:
        metrics[names.TEST_ACCURACY] = test
    return TrialRecord(trial=trial, config=config, metrics=metrics, error=error)


RECORDS = [
    _rec("stopped", {names.REGULARIZER: "l2", names.PLACEMENT: "kernel", names.LAMBDA: 1e-3}, 0.95,
         finished=0.0, epochs=2),
    _rec("good", {names.REGULARIZER: "l2", names.PLACEMENT: "activity", names.LAMBDA: 1e-3}, 0.91, test=0.9),
    _rec("base", {names.REGULARIZER: "none"}, 0.88, test=0.87, sparsity=0.01),
    _rec("diverging", {names.REGULARIZER: "l1", names.PLACEMENT: "kernel", names.LAMBDA: 0.1}, 0.1, diverged=1.0),
    _rec("err", {names.REGULARIZER: "l1", names.PLACEMENT: "bias", names.LAMBDA: 0.01}, 0.5, error=True),
]


def test_table_ranks_completed_first_then_by_val_accuracy():
    df = trials_table(RECORDS)
    assert df["trial"].tolist() == ["good", "base", "stopped", "diverging", "err"]
    assert df["state"].tolist() == [names.STATE_COMPLETED, names.STATE_COMPLETED, names.STATE_STOPPED,
                                    names.STATE_DIVERGED, names.STATE_ERRORED]
    best = best_trial(df)
    assert best["trial"] == "good", "a full-budget trial beats a truncated one with higher accuracy"
    assert best_config(best) == {names.REGULARIZER: "l2", names.PLACEMENT: "activity", names.LAMBDA: 1e-3}
    assert best_config(df.iloc[1]) == {names.REGULARIZER: "none"}
    text = render_table(df)
    assert "good" in text and "0.9100" in text and len(text.splitlines()) == 6


def test_the_terminal_table_fits_120_columns_and_verbose_adds_the_wide_ones():
    """Every column at its widest: a confirmation trial id, stopped_early, an 8-digit λ, an l1_ratio."""
    from sweep.report.summary import TABLE_WIDTH

    config = {names.REGULARIZER: names.ELASTIC_NET, names.PLACEMENT: names.KERNEL_BIAS, names.LAMBDA: 0.000372,
              names.L1_RATIO: 0.4, names.SEED: 12}
    metrics = {names.VAL_ACCURACY: 0.9791, names.TEST_ACCURACY: 0.9722, names.SPARSITY: 0.0169, names.EPOCH: 25,
               names.TEST_ACCURACY_PRUNED: 0.97, names.ACTIVATION_SPARSITY: 0.59, names.FINISHED: 0.0,
               names.COL_NODE_IP: "203.0.113.77", names.NODE_ID: "6c1c19b4e8f0aa"}
    df = trials_table([TrialRecord(trial="3e9c1_00001", config=config, metrics=metrics, error=False,
                                   phase=names.PHASE_CONFIRM, seed=12)])
    narrow, wide = render_table(df), render_table(df, wide=True)
    assert max(len(line) for line in narrow.splitlines()) <= TABLE_WIDTH, narrow
    assert "stopped_early" in narrow and "0.000372" in narrow and "val_acc" in narrow
    assert "203.0.113.77" not in narrow and "203.0.113.77" in wide and "6c1c19b4" in wide and "0.5900" in wide


def test_edge_note_flags_lambda_at_either_end_only():
    search = SearchConfig(lambda_low=1e-6, lambda_high=1e-1)
    row = lambda lam: pd.Series({names.REGULARIZER: "l2", names.LAMBDA: lam})
    assert "HIGH edge" in lambda_edge_note(row(0.09), search)
    assert "LOW edge" in lambda_edge_note(row(1.5e-6), search)
    assert lambda_edge_note(row(1e-4), search) is None
    assert lambda_edge_note(pd.Series({names.REGULARIZER: "none", names.LAMBDA: None}), search) is None


def test_pareto_front_is_exact():
    df = pd.DataFrame({"s": [0.1, 0.5, 0.3, 0.9, 0.2], "a": [0.9, 0.7, 0.6, 0.2, 0.95]})
    front = pareto_front(df, "s", "a")
    assert list(zip(front["s"], front["a"])) == [(0.2, 0.95), (0.5, 0.7), (0.9, 0.2)]


def test_csv_and_plots_are_written(tmp_path):
    df = trials_table(RECORDS)
    csv = write_csv(df, tmp_path / "results.csv")
    assert pd.read_csv(csv)["trial"].tolist() == df["trial"].tolist()
    paths = write_plots(df, tmp_path)
    assert [p.name for p in paths] == ["val_accuracy_vs_lambda.png", "sparsity_vs_lambda.png",
                                       "accuracy_vs_sparsity_pareto.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000


def test_empty_table_renders():
    assert render_table(trials_table([])) == "(no trials)"
    assert best_trial(trials_table(RECORDS[3:])) is None, "diverged and errored trials are never best"


def test_plots_leave_pyplot_and_its_backend_switch_alone(tmp_path):
    """Regression: the summary's plots switched pyplot's global backend, which imports IPython when
    any thread has started to; racing the MLflow writer thread's imports, a sweep once died with
    "cannot import name 'DummyMod' from partially initialized module". The plots use plain Figures."""
    import subprocess
    import sys

    code = ("import sys, pandas as pd; from sweep.report.plots import write_plots; from sweep.report.summary import trials_table; "
            "from tests.test_summary import RECORDS; write_plots(trials_table(RECORDS), __import__('pathlib').Path(sys.argv[1])); "
            "print('matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True,
                         cwd=str(__import__("tests.conftest", fromlist=["REPO"]).REPO))
    assert out.stdout.strip() == "False"
    assert len(list(tmp_path.glob("*.png"))) == 3


def test_a_grid_trials_seed_is_the_sweeps_when_its_config_leaves_it_empty():
    # regression: preset=article's grid trials have seed=None in their config (a placeholder of the
    # grid's param space) and showed no seed in the table
    from types import SimpleNamespace

    from sweep.report.summary import records_from_results

    result = SimpleNamespace(config={names.REGULARIZER: names.NONE, names.SEED: None}, metrics={}, error=None,
                             path="/x/t1")
    (record,) = records_from_results([result], seed=3)
    assert record.seed == 3


def test_each_pruning_point_is_labelled_with_its_own_threshold_when_one_is_missing(tmp_path, monkeypatch):
    # regression: the labels were zipped with the thresholds after missing points were dropped, so a
    # gap shifted every later label onto the wrong point
    from sweep.report import plots
    from trainables.metrics.pruning import PRUNE_THRESHOLDS

    row = {names.COL_TRIAL: "t1", names.REGULARIZER: names.L2, names.PLACEMENT: names.KERNEL, names.LAMBDA: 0.01}
    for i, t in enumerate(PRUNE_THRESHOLDS):
        row[names.pruning_metric(names.PRUNING_REMOVED, t)] = None if i == 0 else i / 10
        row[names.pruning_metric(names.PRUNING_ACCURACY, t)] = None if i == 0 else 1 - i / 10
    figures = []
    make = plots._figure
    monkeypatch.setattr(plots, "_figure", lambda: figures.append(make()) or figures[-1])
    plots._pruning_plot(pd.DataFrame([row]), ["t1"], tmp_path / "p.png")
    labels = {text.get_text(): tuple(text.xy) for text in figures[0].axes[0].texts}
    assert labels == {f"{t:g}": (i / 10, 1 - i / 10) for i, t in enumerate(PRUNE_THRESHOLDS) if i > 0}


def test_plots_survive_an_ipython_half_imported_by_another_thread_once_the_canvas_is_settled(tmp_path):
    """Regression: a sweep died at its summary with "partially initialized module 'IPython' has no
    attribute 'version_info'": the first Agg canvas checks sys.modules for IPython while the MLflow
    writer thread was importing it. The launcher settles the canvas first (``settle_canvas``); the
    control run shows the check fails on such a module."""
    import subprocess
    import sys

    from tests.conftest import REPO

    code = ("import sys, types, pathlib; from sweep.report import plots; from sweep.report.summary import trials_table; "
            "from tests.test_summary import RECORDS; settle = sys.argv[2] == 'settle'; "
            "plots.settle_canvas() if settle else None; "
            "sys.modules['IPython'] = types.ModuleType('IPython');"  # half-imported: no version_info yet
            "plots.write_plots(trials_table(RECORDS), pathlib.Path(sys.argv[1])); print('drawn')")
    settled = subprocess.run([sys.executable, "-c", code, str(tmp_path / "a"), "settle"], capture_output=True,
                             text=True, cwd=str(REPO))
    assert settled.returncode == 0 and settled.stdout.strip() == "drawn", settled.stderr[-2000:]
    control = subprocess.run([sys.executable, "-c", code, str(tmp_path / "b"), "no"], capture_output=True,
                             text=True, cwd=str(REPO))
    assert control.returncode != 0 and "version_info" in control.stderr
