"""The compact console, on a real multi-objective sweep through ``python -m sweep.launch`` (the session's
shared local sweep, ``tests/shared_sweeps.py``): short, no TensorFlow/CUDA lines, no links to a server
that is gone, every trial's end state shown; and the Pareto answer in MLflow (the tag on the front's
child runs, the pruned accuracy, the front's table)."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from sweep.tracking.ui_view import LOCAL_UI
from trainables import names

from tests.shared_sweeps import LOCAL_CONFIRM_RUNS, LOCAL_EPOCHS, LOCAL_SEARCH_TRIALS

N_TRIALS = LOCAL_SEARCH_TRIALS + LOCAL_CONFIRM_RUNS
NOISE = re.compile(r"^[IWEF]\d{4} |cuda|oneDNN|cpu_feature_guard|absl|Configuration for experiment|Trial status|"
                   r"Checkpoint successfully|View run|View experiment|━", re.IGNORECASE)
#: Lines the console may take: the opening, a line per trial, the summary table (a row per trial), the
#: per-config table, the verdict with its caveats and both objectives' answers.
MAX_LINES = 45 + 2 * N_TRIALS


@pytest.fixture(scope="module")
def swept(local_sweep):
    return local_sweep.root, local_sweep.proc, local_sweep.out_dir


def test_the_default_console_is_short_and_free_of_framework_noise(swept):
    _, proc, _ = swept
    lines = (proc.stdout + proc.stderr).splitlines()
    assert len(lines) <= MAX_LINES, "\n".join(lines)
    noisy = [line for line in lines if NOISE.search(line)]
    assert not noisy, noisy
    urls = re.findall(r"https?://\S+", "\n".join(lines))
    # no embedded server's address: the only URL is the sweep's view in a plain `mlflow ui` to start
    assert urls and all(u.startswith(f"{LOCAL_UI}/#/experiments/") for u in urls), urls
    assert any("start the UI with: mlflow ui   (in this directory), then open http" in line for line in lines)


def test_the_closing_lines_name_the_sweeps_own_output_folder(swept):
    """Regression: they named ``outputs/<name>/`` whatever ``output_dir`` said."""
    _, proc, out_dir = swept
    assert f"({out_dir / 'timings.json'})" in proc.stdout
    assert f"the launcher's TensorFlow start-up in {out_dir / 'logs'}/;" in proc.stdout
    assert "outputs/" not in proc.stdout


def test_every_trial_shows_its_end_state(swept):
    _, proc, _ = swept
    ends = [line for line in proc.stdout.splitlines()
            if re.match(rf"regsweep: trial \d+/({LOCAL_SEARCH_TRIALS}|{N_TRIALS}) ", line)]
    assert len(ends) == N_TRIALS, proc.stdout
    assert all(f": completed, epoch {LOCAL_EPOCHS}/{LOCAL_EPOCHS}, val_accuracy 0." in line for line in ends), ends


def test_verbose_is_still_there_for_debugging(tmp_path):
    from sweep.config.compose import load_config
    from sweep.launch import _parser

    assert _parser().parse_args(["--verbose"]).verbose
    assert load_config(["console.verbose=true"]).console.verbose


def test_the_multi_objective_sweep_tags_the_front_and_logs_the_pruned_accuracy(swept):
    from mlflow.tracking import MlflowClient

    root, proc, out_dir = swept
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("regsweep").experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get(names.TAG_ROLE) == names.ROLE_PARENT]
    children = [r for r in runs if r.data.tags.get(names.TAG_PARENT_RUN)]
    assert json.loads(parent.data.params["search.objectives"]) == [names.VAL_ACCURACY, names.SPARSITY]
    assert parent.data.params["profile.suggestion"] in (names.L1, names.L2, names.ELASTIC_NET)
    front = pd.read_csv(out_dir / "pareto_front.csv")
    on_front = {c.data.tags[names.TAG_TRIAL_ID] for c in children if c.data.tags.get(names.TAG_PARETO) == "true"}
    assert on_front and on_front == set(front[names.COL_TRIAL].astype(str))
    assert all(c.data.tags.get(names.TAG_PARETO) in ("true", "false") for c in children)
    for child in children:
        m = child.data.metrics
        assert 0.0 <= m[names.TEST_ACCURACY_PRUNED] <= 1.0 and 0.0 <= m[names.PRUNED_FRACTION] <= 1.0
        assert names.pruning_metric(names.PRUNING_ACCURACY, 0.1) in m
    summary = {a.path for a in client.list_artifacts(parent.info.run_id, "summary")}
    assert {"summary/pareto_front.csv", "summary/pruning_curve.png", "summary/verdict.md"} <= summary
    verdict = (out_dir / "verdict.md").read_text()
    assert "## Accuracy and sparsity" in verdict and "## The article's rule of thumb" in verdict
    assert "accuracy/sparsity Pareto front" in proc.stdout and "compressible model" in proc.stdout
    # the sparsity objective is the removable fraction, measured every epoch and answered in the verdict
    for child in children:
        history = client.get_metric_history(child.info.run_id, names.REMOVABLE)
        epochs = client.get_metric_history(child.info.run_id, names.VAL_ACCURACY)
        assert len(history) == len(epochs) and all(0.0 <= h.value <= 1.0 for h in history)
    assert "## Does L1 give removable weights?" in verdict and "against the weights removable" in proc.stdout
