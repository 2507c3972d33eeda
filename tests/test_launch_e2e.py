"""The real entry point, end to end on digits with a tiny budget: real Ray, real Optuna, real ASHA."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.cli import launch
from trainables import names


def test_launch_runs_a_tiny_digits_sweep_end_to_end(tmp_path):
    proc = launch(tmp_path, "data=digits", "search.num_samples=3", "train.epochs=2", "train.batch_size=64",
                   "scheduler.grace_period=1", "scheduler.reduction_factor=2", "search.confirm_seeds=0", "name=e2e")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "=== sweep e2e: 3 trials" in out and "best config:" in out
    run_dir = tmp_path / "outputs" / "e2e"
    table = pd.read_csv(run_dir / "results.csv")
    assert len(table) == 3
    assert set(table["state"]) <= {names.STATE_COMPLETED, names.STATE_STOPPED}
    assert (table["epochs"] >= 1).all() and (table["epochs"] <= 2).all()
    completed = table[table["state"] == names.STATE_COMPLETED]
    assert len(completed) >= 1 and completed[names.TEST_ACCURACY].notna().all()
    best = json.loads((run_dir / "best_config.json").read_text())
    assert best["config"][names.REGULARIZER] in names.REGULARIZERS and best["dataset"] == "digits"
    for png in ("val_accuracy_vs_lambda.png", "sparsity_vs_lambda.png", "accuracy_vs_sparsity_pareto.png"):
        assert (run_dir / png).stat().st_size > 0
    assert (tmp_path / "ray_results" / "e2e").is_dir(), "Ray experiment state under ./ray_results/<name>"
    # the same name again is refused (it would clobber the sweep), with the resume hint
    again = launch(tmp_path, "data=digits", "search.num_samples=3", "train.epochs=2", "name=e2e")
    assert again.returncode == 2 and "resume=true" in again.stderr


def test_confirm_seeds_reruns_the_best_config_and_the_baseline_with_new_seeds(tmp_path):
    proc = launch(tmp_path, "data=digits", "search.num_samples=3", "train.epochs=2", "train.batch_size=64",
                  "scheduler=fifo", "search.confirm_seeds=2", "search.confirm_max_seeds=2", "search.confirm_top=1",
                  "name=conf")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "confirming 1 candidate(s) against no regularization on paired seeds" in proc.stdout
    assert "confirmation round 1: 2 runs x 2 epochs (seeds 1)" in proc.stdout
    assert "confirmation round 2" not in proc.stdout, "search.confirm_max_seeds=2: one round"
    run_dir = tmp_path / "outputs" / "conf"
    table = pd.read_csv(run_dir / "results.csv")
    search = table[table[names.COL_PHASE] == names.PHASE_SEARCH]
    confirm = table[table[names.COL_PHASE] == names.PHASE_CONFIRM]
    assert len(search) == 3 and set(search[names.SEED]) == {0}
    assert (search[names.REGULARIZER] == names.NONE).sum() == 1, "the baseline is measured once in the search"
    assert len(confirm) == 2 and set(confirm[names.SEED]) == {1}
    assert (confirm[names.COL_EPOCHS] == 2).all(), "confirmation runs train the full budget"
    assert sorted(confirm[names.REGULARIZER] == names.NONE) == [False, True], "baseline + best penalized config"
    penalized = search[search[names.REGULARIZER] != names.NONE].sort_values(names.VAL_ACCURACY, ascending=False)
    top = confirm[confirm[names.REGULARIZER] != names.NONE].iloc[0]
    assert (top[names.PLACEMENT], top[names.LAMBDA]) == (penalized.iloc[0][names.PLACEMENT],
                                                         penalized.iloc[0][names.LAMBDA])
    best = json.loads((run_dir / "best_config.json").read_text())
    assert best["n_seeds"] == 2, "the recommendation is a confirmed config"
    assert "± " in proc.stdout and "per config" in proc.stdout
    verdict = (run_dir / "verdict.md").read_text()
    assert verdict.startswith("# Verdict of sweep conf") and "1 paired seed: too few for a 95% interval" in verdict
    assert "confirmation: 1 paired seed of at most 1, 1 round" in verdict
    assert "verdict:" in proc.stdout


def test_resume_of_an_unknown_sweep_is_refused(tmp_path):
    proc = launch(tmp_path, "data=digits", "name=never-ran", "resume=true")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.strip().startswith("regsweep: error: resume: no sweep named 'never-ran'")


def test_resume_is_refused_when_a_setting_that_shapes_results_changed(tmp_path):
    base = ("data=digits", "search.num_samples=1", "train.batch_size=64", "search.confirm_seeds=0",
            "name=shaped")
    first = launch(tmp_path, *base, "train.epochs=1")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    for override, key in (("train.epochs=2", "train.epochs"), ("data.val_split=0.3", "data.val_split"),
                          ("search.lambda_high=0.5", "search.lambda_high")):
        proc = launch(tmp_path, *base, "train.epochs=1", override, "resume=true", timeout=120)
        assert proc.returncode == 2, (override, proc.stdout[-2000:], proc.stderr[-2000:])
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"regsweep: error: {key}: differs"), lines
        assert "resuming sweep" not in proc.stdout, "refused before anything started"
    for override, key in (("search.num_samples=3", "search.num_samples"),
                          ("search.max_concurrent_trials=1", "search.max_concurrent_trials")):
        proc = launch(tmp_path, *base, "train.epochs=1", override, "resume=true", timeout=120)
        assert proc.returncode == 2, (override, proc.stdout[-2000:], proc.stderr[-2000:])
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"regsweep: error: {key}: cannot change when sweep"), lines
        assert "Ray's restored Tuner keeps" in lines[0] and f"resume with {key}=" in lines[0]
    # cluster settings do not change results: resuming with them changed is allowed
    ok = launch(tmp_path, *base, "train.epochs=1", "cluster.max_failures=5", "train.threads=1", "resume=true")
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-3000:]


@pytest.mark.slow
def test_resume_of_a_sweep_started_with_the_old_l1_ratio_meaning_is_refused(tmp_path):
    base = ("data=digits", "search.num_samples=1", "train.epochs=1", "train.batch_size=64",
            "search.confirm_seeds=0", "name=old-ratio")
    first = launch(tmp_path, *base)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    # what a sweep of the previous version wrote: the bare search-space fingerprint, no l1_ratio meaning
    (tmp_path / "outputs" / "old-ratio" / "search_space.json").write_text(json.dumps({
        "regularizers": ["none", "l1", "l2", "elastic_net"], "placements": ["kernel"],
        "lambda_range": [1e-6, 0.1], "l1_ratio_range": [0.0, 1.0]}))
    proc = launch(tmp_path, *base, "resume=true", timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("regsweep: error: search.l1_ratio: sweep 'old-ratio' was started when")
    assert "scikit-learn" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
