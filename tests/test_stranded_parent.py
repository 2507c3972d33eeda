"""Parent runs and the Ray state that goes with them. A parent run left by a launch that ended before
any trial started (no Ray state, no child run) no longer strands the sweep's name: a fresh launch
moves it to MLflow's deleted view and starts afresh. A RUNNING parent may belong to a launch still
starting elsewhere, and is not taken. A resume against another store or experiment is one line."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from tests.cli import launch
from tests.shared_sweeps import LOCAL_NAME
from trainables import names

ARGS = ("data=digits", "search.num_samples=1", "train.epochs=1", "train.batch_size=64", "search.confirm_seeds=0")


def _leave_parent(tmp_path, name: str, status: str) -> str:
    """What a launch that failed between the parent run and the Tuner leaves in the local store."""
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("regsweep")
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(
        "regsweep", artifact_location=str(tmp_path / "mlartifacts" / "regsweep"))
    run = client.create_run(experiment_id, run_name=name, tags={names.TAG_SWEEP: name,
                                                                names.TAG_ROLE: names.ROLE_PARENT})
    if status != names.RUN_RUNNING:  # a SIGKILLed launch leaves it RUNNING
        client.set_terminated(run.info.run_id, status)
    return run.info.run_id


@pytest.mark.slow
def test_a_fresh_launch_takes_over_a_parent_that_ended_before_any_trial(tmp_path):
    stale = _leave_parent(tmp_path, "stranded", names.RUN_KILLED)
    proc = launch(tmp_path, *ARGS, "name=stranded")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"parent run {stale} of an earlier launch of 'stranded' ended before any trial started" in proc.stdout
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert client.get_run(stale).info.lifecycle_stage == "deleted"
    experiment = client.get_experiment_by_name("regsweep")
    parents = client.search_runs([experiment.experiment_id], filter_string=f"tags.`{names.TAG_ROLE}` = "
                                 f"'{names.ROLE_PARENT}'")
    assert [p.info.status for p in parents] == [names.RUN_FINISHED], "one live parent: the new sweep's"


@pytest.mark.slow
def test_a_running_parent_without_ray_state_is_still_refused(tmp_path):
    _leave_parent(tmp_path, "busy", names.RUN_RUNNING)
    proc = launch(tmp_path, *ARGS, "name=busy", timeout=300)
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "already has a sweep named 'busy'" in proc.stderr


@pytest.mark.slow
def test_a_resume_against_another_store_or_experiment_is_one_line(local_sweep):
    """Before, the restored Tune callback looked its writer up by the old parent run id: RuntimeError.
    Against the session's shared local sweep, which the refusal leaves as it was."""
    proc = launch(local_sweep.root, *local_sweep.args, "resume=true", "tracking.experiment=elsewhere", timeout=300)
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("regsweep: error:")]
    assert len(errors) == 1 and f"sweep '{LOCAL_NAME}' has no parent run in MLflow experiment 'elsewhere'" in errors[0]
    assert "Traceback" not in proc.stderr and "tracking.uri and tracking.experiment it started with" in errors[0]
