"""Sweeps launched at the same moment in one working directory, on the local SQLite MLflow store: each
keeps its own Ray state, results and MLflow runs, and a twin with the same name is refused."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from tests.cli import start
from trainables import names

ARGS = ("data=digits", "search.num_samples=2", "train.epochs=1", "train.batch_size=64", "scheduler=fifo",
        "search.regularizers=[l2]", "search.placements=[kernel]", "search.confirm_seeds=0")


@pytest.mark.slow
def test_concurrent_sweeps_in_one_directory_do_not_clobber_each_other(tmp_path):
    logs = {key: tmp_path / f"{key}.log" for key in ("twin_a", "twin_b", "other")}
    procs = {
        "twin_a": start(tmp_path, logs["twin_a"], *ARGS, "name=twin"),
        "twin_b": start(tmp_path, logs["twin_b"], *ARGS, "name=twin"),
        "other": start(tmp_path, logs["other"], *ARGS),  # a generated name
    }
    codes = {key: proc.wait(timeout=900) for key, proc in procs.items()}
    out = {key: log.read_text(errors="replace") for key, log in logs.items()}

    assert codes["other"] == 0, out["other"][-3000:]
    assert sorted([codes["twin_a"], codes["twin_b"]]) == [0, 2], out
    refused = out["twin_a"] if codes["twin_a"] == 2 else out["twin_b"]
    assert "sweep 'twin' is running in another process" in refused or "already" in refused, refused

    sweeps = sorted(p.name for p in (tmp_path / "outputs").iterdir() if p.is_dir())
    assert len(sweeps) == 2 and "twin" in sweeps
    for sweep in sweeps:
        assert (tmp_path / "outputs" / sweep / "results.csv").exists()
        assert (tmp_path / "ray_results" / sweep).is_dir()

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("regsweep")
    runs = client.search_runs([exp.experiment_id], max_results=100)
    parents = {r.info.run_id: r for r in runs if r.data.tags.get(names.TAG_ROLE) == names.ROLE_PARENT}
    assert sorted(p.info.run_name for p in parents.values()) == sweeps
    assert all(p.info.status == "FINISHED" for p in parents.values())
    children = [r for r in runs if r.data.tags.get(names.TAG_ROLE) == names.ROLE_TRIAL]
    assert len(children) == 4
    for parent_id in parents:
        mine = [c for c in children if c.data.tags[names.TAG_PARENT_RUN] == parent_id]
        assert len(mine) == 2 and all(c.data.tags[names.TAG_STATE] == names.STATE_COMPLETED for c in mine)
