"""The embedded default (no tracking.uri): 4 concurrent trials write through one private server."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO
from trainables import names


def test_embedded_store_takes_four_concurrent_trials_without_lock_errors(tmp_path):
    from mlflow.tracking import MlflowClient

    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "sweep.launch", "data=digits", "search.num_samples=4", "train.epochs=1",
         "train.batch_size=64", "scheduler=fifo", "cluster.cpus_per_trial=0.5",
         "search.max_concurrent_trials=4", "search.confirm_seeds=0", "name=four"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    server_log = (tmp_path / "outputs" / ".mlflow-server.log").read_text(errors="replace")
    for text in (proc.stdout, proc.stderr, server_log):
        assert "database is locked" not in text
    assert "mlflow ui" in proc.stdout, "the launcher tells how to open the UI"
    # the store is where a plain `mlflow ui` in this directory looks: ./mlflow.db + ./mlartifacts
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
