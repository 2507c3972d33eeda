"""A tiny digits sweep against a real MLflow server over HTTP, checked with MlflowClient and a browser."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.cli import launch
from tests.conftest import REPO
from tests.servers import mlflow_server
from trainables import names

SWEEP = "tracked"
EXPERIMENT = "e2e-experiment"
N_TRIALS = 3
EPOCHS = 2
ARTIFACT_DIR = REPO / "test-artifacts"


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """One sweep logged to a real server; yields (uri, client, experiment, parent runs, child runs,
    the launcher's console output)."""
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("mlflow")
    with mlflow_server(root / "server") as uri:
        proc = launch(root, "data=digits", f"search.num_samples={N_TRIALS}", f"train.epochs={EPOCHS}",
                      "train.batch_size=64", "scheduler=fifo", "search.confirm_seeds=0", f"tracking.uri={uri}",
                      f"tracking.experiment={EXPERIMENT}", f"name={SWEEP}")
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
        client = MlflowClient(tracking_uri=uri)
        exp = client.get_experiment_by_name(EXPERIMENT)
        assert exp is not None
        runs = client.search_runs([exp.experiment_id])
        parents = [r for r in runs if r.data.tags.get(names.TAG_ROLE) == names.ROLE_PARENT]
        children = [r for r in runs if r.data.tags.get(names.TAG_PARENT_RUN)]
        yield uri, client, exp, parents, children, proc.stdout


def test_one_parent_and_one_child_per_trial(tracked):
    _, _, _, parents, children, _ = tracked
    assert len(parents) == 1 and parents[0].info.run_name == SWEEP
    assert len(children) == N_TRIALS
    assert {c.data.tags[names.TAG_PARENT_RUN] for c in children} == {parents[0].info.run_id}
    assert len({c.data.tags[names.TAG_TRIAL_ID] for c in children}) == N_TRIALS
    words = {names.NONE: "no regularization", names.L1: "L1", names.L2: "L2", names.ELASTIC_NET: "elastic net"}
    for child in children:  # named as the console labels the trial: config, then seed
        label, _, seed = child.info.run_name.rpartition(" · seed ")
        assert label.startswith(words[child.data.params[names.REGULARIZER]]) and seed.isdigit(), child.info.run_name


def test_parent_holds_config_provenance_dataset_and_summary(tracked):
    _, client, _, parents, _, _ = tracked
    parent = parents[0]
    p, tags = parent.data.params, parent.data.tags
    assert p["train.epochs"] == str(EPOCHS) and p["search.num_samples"] == str(N_TRIALS)
    assert p["dataset"] == "digits" and p["dataset.train_size"] == "1150" and p["dataset.test_size"] == "360"
    assert tags.get(names.TAG_GIT_COMMIT) and "sweep.launch" in tags[names.TAG_COMMAND]
    assert parent.info.status == "FINISHED"
    top = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert "config.yaml" in top
    summary = {a.path for a in client.list_artifacts(parent.info.run_id, "summary")}
    assert {"summary/results.csv", "summary/best_config.json", "summary/val_accuracy_vs_lambda.png",
            "summary/sparsity_vs_lambda.png", "summary/accuracy_vs_sparsity_pareto.png"} <= summary
    assert "best_val_accuracy" in parent.data.metrics


def test_parent_holds_the_trials_configs_and_front_as_tables_the_ui_renders(tracked):
    import mlflow

    uri, client, exp, parents, children, _ = tracked
    parent = parents[0]
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment_id=exp.experiment_id)  # load_table searches the active experiment
    trials = mlflow.load_table(names.TABLE_TRIALS, run_ids=[parent.info.run_id])
    trials[names.COL_TRIAL] = trials[names.COL_TRIAL].astype(str)  # all-decimal ids would read as int
    assert sorted(trials[names.COL_TRIAL]) == sorted(c.data.tags[names.TAG_TRIAL_ID] for c in children)
    by_trial = trials.set_index(names.COL_TRIAL)
    for child in children:
        if names.VAL_ACCURACY in child.data.metrics and child.data.tags[names.TAG_STATE] == names.STATE_COMPLETED:
            row = by_trial.loc[child.data.tags[names.TAG_TRIAL_ID]]
            assert row[names.VAL_ACCURACY] == pytest.approx(child.data.metrics[names.VAL_ACCURACY])
    configs = mlflow.load_table(names.TABLE_CONFIGS, run_ids=[parent.info.run_id])
    assert len(configs) >= 1 and "val_mean" in configs.columns
    front = mlflow.load_table(names.TABLE_PARETO, run_ids=[parent.info.run_id])
    # load_table infers column types: a front of one trial whose 8 hex digits are all decimal reads as int
    assert set(front[names.COL_TRIAL].astype(str)) <= set(trials[names.COL_TRIAL].astype(str)) and len(front) >= 1


def test_children_log_contract_params_metrics_history_and_state(tracked):
    _, client, _, _, children, _ = tracked
    for child in children:
        params, metrics = child.data.params, child.data.metrics
        assert params[names.REGULARIZER] in names.REGULARIZERS
        if params[names.REGULARIZER] != names.NONE:
            assert names.PLACEMENT in params and float(params[names.LAMBDA]) > 0
        assert (names.L1_RATIO in params) == (params[names.REGULARIZER] == names.ELASTIC_NET)
        assert params["epochs"] == str(EPOCHS) and params["batch_size"] == "64"
        for key in names.EPOCH_METRICS:
            history = client.get_metric_history(child.info.run_id, key)
            assert sorted(m.step for m in history) == list(range(1, EPOCHS + 1)), key
        for key in (names.TEST_LOSS, names.TEST_ACCURACY, names.SPARSITY, "sparsity/conv1",
                    "sparsity/output", names.ACTIVATION_SPARSITY, names.KERNEL_L1_NORM):
            assert key in metrics, key
        assert child.data.tags[names.TAG_STATE] == names.STATE_COMPLETED
        assert child.info.status == "FINISHED"


def test_each_model_loads_and_predicts_probabilities(tracked):
    import mlflow

    uri, _, _, _, children, _ = tracked
    mlflow.set_tracking_uri(uri)
    x = np.random.default_rng(0).random((5, 28, 28, 1)).astype("float32")
    for child in children:
        model = mlflow.keras.load_model(f"runs:/{child.info.run_id}/{names.MODEL_NAME}")
        probs = model.predict(x, verbose=0)
        assert probs.shape == (5, 10)
        assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4) and (probs >= 0).all()
    info = mlflow.models.get_model_info(f"runs:/{children[0].info.run_id}/{names.MODEL_NAME}")
    assert info.signature is not None and info.saved_input_example_info is not None


def _chromium(pw):
    """Debian's chromium, headless, through Playwright."""
    return pw.chromium.launch(executable_path="/usr/bin/chromium",
                              args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])


def test_mlflow_ui_in_chromium_shows_experiment_parent_and_children(tracked):
    from playwright.sync_api import sync_playwright

    uri, _, exp, parents, children, _ = tracked
    ARTIFACT_DIR.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = _chromium(pw)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(f"{uri}/#/experiments/{exp.experiment_id}/runs")
        page.get_by_text(EXPERIMENT).first.wait_for(timeout=60_000)
        parent = page.get_by_text(SWEEP, exact=True).first
        parent.wait_for(timeout=60_000)
        # the parent row's expander reveals the nested child runs
        parent.locator("xpath=ancestor::*[@role='row'][1]").locator("button").first.click()
        for child in children:
            page.get_by_text(child.info.run_name, exact=True).first.wait_for(timeout=60_000)
        page.screenshot(path=str(ARTIFACT_DIR / "mlflow-experiment.png"), full_page=True)
        page.goto(f"{uri}/#/experiments/{exp.experiment_id}/runs/{children[0].info.run_id}")
        page.get_by_text(children[0].info.run_name).first.wait_for(timeout=60_000)
        page.get_by_text(SWEEP, exact=True).first.wait_for(timeout=60_000)  # the child names its parent
        page.screenshot(path=str(ARTIFACT_DIR / "mlflow-child-run.png"), full_page=True)
        # the parent's trials table, as the artifact viewer renders a logged table: one row per trial
        page.goto(f"{uri}/#/experiments/{exp.experiment_id}/runs/{parents[0].info.run_id}/artifacts/{names.TABLE_TRIALS}")
        try:
            for child in children:
                page.get_by_text(child.data.tags[names.TAG_TRIAL_ID], exact=True).first.wait_for(timeout=60_000)
        finally:
            page.screenshot(path=str(ARTIFACT_DIR / "mlflow-trials-table.png"), full_page=True)
        # report.html from the parent's artifacts: MLflow's viewer shows it in a frame, its charts draw
        errors: list[str] = []
        page = browser.new_page(viewport={"width": 1600, "height": 1000})  # a hash change alone would not reload
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{uri}/#/experiments/{exp.experiment_id}/runs/{parents[0].info.run_id}/artifacts/summary/report.html")
        try:
            frame = page.frame_locator("iframe").first
            frame.get_by_text(f"Verdict of sweep {SWEEP}").first.wait_for(timeout=60_000)  # the page's title
            # parallel coordinates, learning curves, best so far, the front, pruning: each drawn as an SVG
            frame.locator(".plotly-graph-div").nth(4).locator(".main-svg").first.wait_for(timeout=60_000)
            drawn = frame.locator(".plotly-graph-div:has(.main-svg)").count()
        finally:
            page.screenshot(path=str(ARTIFACT_DIR / "mlflow-report-html.png"), full_page=True)
        browser.close()
    assert drawn >= 5, drawn
    assert not [e for e in errors if "report" in e.lower() or "plotly" in e.lower()], errors
    assert (ARTIFACT_DIR / "mlflow-experiment.png").stat().st_size > 10_000


def test_the_printed_link_opens_the_sweeps_trials_side_by_side_without_a_click(tracked):
    """The launcher's link (printed when the sweep starts and when it ends) opens the Model training
    runs page on this sweep's trials: every child run listed, grouped by regularizer, with the
    per-epoch val_accuracy chart and the parallel-coordinates chart."""
    from playwright.sync_api import sync_playwright

    uri, _, exp, _, children, stdout = tracked
    links = re.findall(r"(?:watch|compare) the trials: open (\S+)", stdout)
    assert len(links) == 2 and links[0] == links[1], stdout[-3000:]
    assert links[0].startswith(f"{uri}/#/experiments/{exp.experiment_id}/runs?")
    ARTIFACT_DIR.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = _chromium(pw)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(links[0])
        try:
            for child in children:
                page.get_by_text(child.info.run_name, exact=True).first.wait_for(timeout=60_000)
            page.get_by_text("Group by: regularizer").first.wait_for(timeout=30_000)
            page.get_by_text("Runs", exact=True).first.wait_for(timeout=30_000)  # Model training's title
            page.get_by_text(f"{N_TRIALS} matching runs").first.wait_for(timeout=30_000)
            # the sweep's own chart section: the val_accuracy lines and the parallel coordinates
            page.get_by_text(f"regsweep: {SWEEP}", exact=True).first.wait_for(timeout=30_000)
            page.get_by_text("Parallel C").first.wait_for(timeout=30_000)
            # the section's first card is the per-epoch val_accuracy chart: one line per child run
            first_chart = page.locator(".js-plotly-plot").first
            first_chart.locator(".scatterlayer .trace").nth(N_TRIALS - 1).wait_for(timeout=30_000)
            traces = first_chart.locator(".scatterlayer .trace").count()
            # MLflow 3.17 draws each run as a line and its markers: 2 traces per child, none missing
            assert traces in (N_TRIALS, 2 * N_TRIALS), traces
            assert "workflowType=machine_learning" in page.url and "Model training" in page.content()
        finally:  # what the browser showed, pass or fail
            page.screenshot(path=str(ARTIFACT_DIR / "mlflow-sweep-view.png"), full_page=True)
            browser.close()


def test_unreachable_tracking_server_fails_fast_with_one_line(tmp_path):
    from tests.servers import free_port

    uri = f"http://127.0.0.1:{free_port()}"
    proc = launch(tmp_path, "data=digits", f"tracking.uri={uri}")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"tracking.uri={uri}" in lines[0] and "Fix:" in lines[0]
    assert not (tmp_path / "ray_results").exists()
