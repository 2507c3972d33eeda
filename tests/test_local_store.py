"""The local default (no tracking.uri): 4 concurrent trials, one writer (the driver), a plain SQLite
store in the working directory, and a plain ``mlflow ui`` there that shows the sweep."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import urllib.request

from tests.conftest import REPO
from tests.servers import free_port, wait_healthy
from trainables import names


def test_local_store_takes_four_concurrent_trials_and_mlflow_ui_shows_them(tmp_path):
    from mlflow.tracking import MlflowClient

    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    elsewhere = tmp_path / "elsewhere"
    proc = subprocess.run(
        [sys.executable, "-m", "sweep.launch", "data=digits", "search.num_samples=4", "train.epochs=1",
         "train.batch_size=64", "scheduler=fifo", "cluster.cpus_per_trial=0.5",
         "search.max_concurrent_trials=4", "search.confirm_seeds=0", "name=four", f"output_dir={elsewhere}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for text in (proc.stdout, proc.stderr):
        assert "database is locked" not in text
    assert "mlflow ui" in proc.stdout, "the launcher tells how to open the UI"
    # regression: the embedded server wrote its log and lock to ./outputs whatever output_dir said
    assert (elsewhere / "four" / "results.csv").exists() and not (tmp_path / "outputs").exists()
    # the store is where a plain `mlflow ui` in this directory looks: ./mlflow.db, artifacts beside it
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("regsweep")
    runs = client.search_runs([exp.experiment_id])
    children = [r for r in runs if r.data.tags.get(names.TAG_PARENT_RUN)]
    assert len(children) == 4 and len(runs) == 5
    assert all(c.data.tags[names.TAG_STATE] == names.STATE_COMPLETED for c in children)
    spans = sorted((c.info.start_time, c.info.end_time) for c in children)
    overlap = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert overlap >= 3, f"trials should have run concurrently, got at most {overlap} at once"
    assert (tmp_path / "mlartifacts").is_dir()
    # what the launcher and its local Ray made is its user's alone: files 0600, folders 0700
    made = list(tmp_path.rglob("*"))  # outputs, mlflow.db, mlartifacts/, ray_results/, the lock
    shared = [f"{p} {stat.filemode(p.stat().st_mode)}" for p in made
              if not p.is_symlink() and p.stat().st_mode & 0o077]
    assert len(made) > 20 and not shared, shared[:10]

    port = free_port()
    ui = subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--port", str(port)], cwd=tmp_path,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        uri = f"http://127.0.0.1:{port}"
        wait_healthy(uri)
        body = json.dumps({"experiment_ids": [exp.experiment_id], "max_results": 100}).encode()
        request = urllib.request.Request(f"{uri}/api/2.0/mlflow/runs/search", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as resp:
            seen = json.load(resp)["runs"]
        assert len(seen) == 5, "mlflow ui, started with its defaults in this directory, shows the sweep"
    finally:
        os.killpg(ui.pid, signal.SIGTERM)
        ui.wait(timeout=30)
