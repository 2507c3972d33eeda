"""The real entry point, end to end on digits with a tiny budget: real Ray, real Optuna, real ASHA."""

from __future__ import annotations

import json

import pandas as pd

from tests.cli import launch
from trainables import names


def test_launch_runs_a_tiny_digits_sweep_end_to_end(tmp_path):
    proc = launch(tmp_path, "data=digits", "search.num_samples=3", "train.epochs=2", "train.batch_size=64",
                   "scheduler.grace_period=1", "scheduler.reduction_factor=2", "name=e2e")
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


def test_resume_of_an_unknown_sweep_is_refused(tmp_path):
    proc = launch(tmp_path, "data=digits", "name=never-ran", "resume=true")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.strip().startswith("regsweep: error: resume: no sweep named 'never-ran'")
