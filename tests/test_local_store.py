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

import pandas as pd

from tests.conftest import REPO
from tests.servers import free_port, wait_healthy
from tests.shared_sweeps import LOCAL_CONFIRM_RUNS, LOCAL_SEARCH_TRIALS
from trainables import names


def test_local_store_takes_four_concurrent_trials_and_mlflow_ui_shows_them(local_sweep):
    """The session's shared local sweep (``tests/shared_sweeps.py``): 4 search trials at half a CPU each,
    at once, then a confirmation round, its outputs in an ``output_dir`` outside the working directory."""
    from mlflow.tracking import MlflowClient

    root, proc = local_sweep.root, local_sweep.proc
    for text in (proc.stdout, proc.stderr):
        assert "database is locked" not in text
    assert "mlflow ui" in proc.stdout, "the launcher tells how to open the UI"
    # regression: the embedded server wrote its log and lock to ./outputs whatever output_dir said
    assert (local_sweep.out_dir / "results.csv").exists() and not (root / "outputs").exists()
    # the store is where a plain `mlflow ui` in this directory looks: ./mlflow.db, artifacts beside it
    client = MlflowClient(tracking_uri=local_sweep.store_uri)
    exp = client.get_experiment_by_name("regsweep")
    runs = client.search_runs([exp.experiment_id])
    children = [r for r in runs if r.data.tags.get(names.TAG_PARENT_RUN)]
    total = LOCAL_SEARCH_TRIALS + LOCAL_CONFIRM_RUNS
    assert len(children) == total and len(runs) == total + 1
    assert all(c.data.tags[names.TAG_STATE] == names.STATE_COMPLETED for c in children)
    table = pd.read_csv(local_sweep.out_dir / "results.csv", dtype={names.COL_TRIAL: str})
    search_ids = set(table.loc[table[names.COL_PHASE] == names.PHASE_SEARCH, names.COL_TRIAL])
    search = [c for c in children if c.data.tags[names.TAG_TRIAL_ID] in search_ids]
    assert len(search) == LOCAL_SEARCH_TRIALS
    assert all(names.SPLIT_SEED not in c.data.params for c in search), "search trials share the sweep's split"
    confirm = [c for c in children if c.data.tags[names.TAG_TRIAL_ID] not in search_ids]
    assert sorted(int(c.data.params[names.SPLIT_SEED]) for c in confirm) == [1, 1, 2, 2, 3, 3], \
        "each confirmation seed on its own split, shared by the baseline and the candidate"
    assert all(c.data.params[names.SPLIT_SEED] == c.data.params["seed"] for c in confirm)
    spans = sorted((c.info.start_time, c.info.end_time) for c in search)
    overlap = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert overlap >= 3, f"trials should have run concurrently, got at most {overlap} at once"
    assert (root / "mlartifacts").is_dir()
    # what the launcher and its local Ray made is its user's alone: files 0600, folders 0700
    made = list(root.rglob("*"))  # outputs, mlflow.db, mlartifacts/, ray_results/, the lock
    shared = [f"{p} {stat.filemode(p.stat().st_mode)}" for p in made
              if not p.is_symlink() and p.stat().st_mode & 0o077]
    assert len(made) > 20 and not shared, shared[:10]

    port = free_port()
    ui = subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--port", str(port)], cwd=root,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        uri = f"http://127.0.0.1:{port}"
        wait_healthy(uri)
        body = json.dumps({"experiment_ids": [exp.experiment_id], "max_results": 100}).encode()
        request = urllib.request.Request(f"{uri}/api/2.0/mlflow/runs/search", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as resp:
            seen = json.load(resp)["runs"]
        assert len(seen) == total + 1, "mlflow ui, started with its defaults in this directory, shows the sweep"
    finally:
        os.killpg(ui.pid, signal.SIGTERM)
        ui.wait(timeout=30)


def test_making_the_first_local_store_on_a_machine_prints_nothing(tmp_path):
    """MLflow's "Creating initial MLflow database tables..." and "Updating database tables" (INFO, on
    stderr) opened the console of the first sweep on a fresh machine."""
    code = ("from pathlib import Path; from sweep.tracking.store import seed_local_store; "
            f"seed_local_store(Path({str(tmp_path / 'mlflow.db')!r}))")
    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "mlflow.db").stat().st_size > 0 and list((tmp_path / "cache" / "regsweep").glob("*.db"))
    assert proc.stdout == "" and proc.stderr == "", proc.stderr
