"""The real entry point, end to end on digits with a tiny budget: real Ray, real Optuna, a real local
MLflow store. Most checks read the session's shared local sweep (``tests/shared_sweeps.py``): the search,
its confirmation round and its outputs; the refusals run against it, and the one resume runs last."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.cli import launch
from tests.shared_sweeps import LOCAL_CONFIRM_RUNS, LOCAL_EPOCHS, LOCAL_NAME, LOCAL_SEARCH_TRIALS
from trainables import names


def test_launch_runs_a_tiny_digits_sweep_end_to_end(local_sweep):
    out = local_sweep.proc.stdout
    total = LOCAL_SEARCH_TRIALS + LOCAL_CONFIRM_RUNS
    assert f"=== sweep {LOCAL_NAME}: {total} trials" in out and "best config:" in out
    table = pd.read_csv(local_sweep.out_dir / "results.csv")
    assert len(table) == total
    assert set(table["state"]) <= {names.STATE_COMPLETED, names.STATE_STOPPED}
    assert (table["epochs"] >= 1).all() and (table["epochs"] <= LOCAL_EPOCHS).all()
    completed = table[table["state"] == names.STATE_COMPLETED]
    assert len(completed) >= 1 and completed[names.TEST_ACCURACY].notna().all()
    best = json.loads((local_sweep.out_dir / "best_config.json").read_text())
    assert best["config"][names.REGULARIZER] in names.REGULARIZERS and best["dataset"] == "digits"
    for png in ("val_accuracy_vs_lambda.png", "sparsity_vs_lambda.png", "accuracy_vs_sparsity_pareto.png"):
        assert (local_sweep.out_dir / png).stat().st_size > 0
    assert (local_sweep.root / "ray_results" / LOCAL_NAME).is_dir(), "Ray experiment state under ./ray_results/<name>"


def test_the_same_name_again_is_refused_with_the_resume_hint(local_sweep):
    """It would clobber the sweep: one line naming resume=true, and nothing of the sweep changes."""
    before = (local_sweep.out_dir / "results.csv").read_bytes()
    again = launch(local_sweep.root, *local_sweep.args)
    assert again.returncode == 2 and "resume=true" in again.stderr
    assert (local_sweep.out_dir / "results.csv").read_bytes() == before


def test_confirm_seeds_reruns_the_best_config_and_the_baseline_with_new_seeds(local_sweep):
    out = local_sweep.proc.stdout
    assert "confirming 1 candidate(s) against no regularization on paired seeds" in out
    assert f"confirmation round 1: 6 runs x {LOCAL_EPOCHS} epochs (seeds 1, 2, 3)" in out
    assert "confirmation round 2" not in out, "search.confirm_max_seeds=2: one round"
    table = pd.read_csv(local_sweep.out_dir / "results.csv")
    search = table[table[names.COL_PHASE] == names.PHASE_SEARCH]
    confirm = table[table[names.COL_PHASE] == names.PHASE_CONFIRM]
    assert len(search) == LOCAL_SEARCH_TRIALS and set(search[names.SEED]) == {0}
    assert (search[names.REGULARIZER] == names.NONE).sum() == 1, "the baseline is measured once in the search"
    assert len(confirm) == LOCAL_CONFIRM_RUNS and set(confirm[names.SEED]) == {1, 2, 3}
    assert (confirm[names.COL_EPOCHS] == LOCAL_EPOCHS).all(), "confirmation runs train the full budget"
    assert sorted(confirm[names.REGULARIZER] == names.NONE) == [False] * 3 + [True] * 3, "baseline + best penalized config"
    penalized = search[search[names.REGULARIZER] != names.NONE].sort_values(names.VAL_ACCURACY, ascending=False)
    top = confirm[confirm[names.REGULARIZER] != names.NONE].iloc[0]
    assert (top[names.PLACEMENT], top[names.LAMBDA]) == (penalized.iloc[0][names.PLACEMENT],
                                                         penalized.iloc[0][names.LAMBDA])
    best = json.loads((local_sweep.out_dir / "best_config.json").read_text())
    assert best["n_seeds"] == 3, "the recommendation is a confirmed config, its figures from confirmation seeds only"
    assert "± " in out and "per config" in out
    verdict = (local_sweep.out_dir / "verdict.md").read_text()
    assert verdict.startswith(f"# Verdict of sweep {LOCAL_NAME}")
    assert "paired seeds, each on its own split" in verdict and "too few paired seeds" not in verdict
    assert "confirmation: 3 paired seeds of at most 3, 1 round" in verdict
    assert "verdict:" in out


def test_resume_of_an_unknown_sweep_is_refused(tmp_path):
    proc = launch(tmp_path, "data=digits", "name=never-ran", "resume=true")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.strip().startswith("regsweep: error: resume: no sweep named 'never-ran'")


def test_resume_is_refused_when_a_setting_that_shapes_results_changed(local_sweep):
    base = local_sweep.args
    for override, key in (("train.epochs=3", "train.epochs"), ("data.val_split=0.3", "data.val_split"),
                          ("search.lambda_high=0.5", "search.lambda_high")):
        proc = launch(local_sweep.root, *base, override, "resume=true", timeout=120)
        assert proc.returncode == 2, (override, proc.stdout[-2000:], proc.stderr[-2000:])
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"regsweep: error: {key}: differs"), lines
        assert "resuming sweep" not in proc.stdout, "refused before anything started"
    for override, key in (("search.num_samples=3", "search.num_samples"),
                          ("search.max_concurrent_trials=1", "search.max_concurrent_trials")):
        proc = launch(local_sweep.root, *base, override, "resume=true", timeout=120)
        assert proc.returncode == 2, (override, proc.stdout[-2000:], proc.stderr[-2000:])
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"regsweep: error: {key}: cannot change when sweep"), lines
        assert "Ray's restored Tuner keeps" in lines[0] and f"resume with {key}=" in lines[0]


@pytest.mark.resumes_shared_sweep
def test_a_resume_with_settings_that_do_not_change_results_is_allowed(local_sweep):
    """Cluster settings decide where and how fast trials run, not what they measure."""
    ok = launch(local_sweep.root, *local_sweep.args, "cluster.max_failures=5", "train.threads=1", "resume=true")
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-3000:]
    assert f"resuming sweep {LOCAL_NAME}" in ok.stdout


def test_resume_of_a_sweep_started_with_the_old_l1_ratio_meaning_is_refused(local_sweep):
    saved = local_sweep.out_dir / "search_space.json"
    kept = saved.read_bytes()
    # what a sweep of the previous version wrote: the bare search-space fingerprint, no l1_ratio meaning
    saved.write_text(json.dumps({"regularizers": ["none", "l1", "l2", "elastic_net"], "placements": ["kernel"],
                                 "lambda_range": [1e-6, 0.1], "l1_ratio_range": [0.0, 1.0]}))
    try:
        proc = launch(local_sweep.root, *local_sweep.args, "resume=true", timeout=120)
    finally:
        saved.write_bytes(kept)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith(f"regsweep: error: search.l1_ratio: sweep '{LOCAL_NAME}' was started when")
    assert "scikit-learn" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
