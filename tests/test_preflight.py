"""The authenticated preflight against a real MLflow server with basic auth: wrong credentials, no
permission and a deleted experiment are each one line before anything starts (exit 2); and no secret
of an authenticated sweep reaches a param, a tag, an artifact or the console."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import launch, launch_env
from tests.servers import ADMIN, mlflow_server
from trainables.errors import UserError


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    """A basic-auth server where users other than the admin have no permission by default, holding
    experiment 'open' (readable by user 'reader'), 'closed' (not readable by 'reader') and 'gone'
    (deleted)."""
    from mlflow.server.auth.client import AuthServiceClient
    from mlflow.tracking import MlflowClient

    with mlflow_server(tmp_path_factory.mktemp("auth"), auth=True, default_permission="NO_PERMISSIONS") as uri:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("MLFLOW_TRACKING_USERNAME", ADMIN[0])
            env.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN[1])
            client = MlflowClient(uri)
            opened = client.create_experiment("open")
            client.create_experiment("closed")
            client.delete_experiment(client.create_experiment("gone"))
            readonly = client.create_experiment("readonly")
            users = AuthServiceClient(uri)
            users.create_user("reader", "reader-password-123")
            users.grant_user_permission("reader", "experiment", opened, "EDIT")
            users.grant_user_permission("reader", "experiment", readonly, "READ")
        yield uri


def _as(monkeypatch, user: str, password: str) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)


def test_a_user_with_permission_passes_and_a_missing_experiment_is_left_to_the_sweep(auth_server, monkeypatch):
    from sweep.tracking.store import preflight

    _as(monkeypatch, "reader", "reader-password-123")
    preflight(auth_server, "open")
    _as(monkeypatch, *ADMIN)
    preflight(auth_server, "not-made-yet")


@pytest.mark.parametrize("user, experiment, expected", [
    (("reader", "wrong-password"), "open", "refused the credentials (HTTP 401)"),
    (("reader", "reader-password-123"), "closed", "no permission on experiment 'closed'"),
    (ADMIN, "gone", "MLflow experiment 'gone' (id"),
], ids=["wrong password", "no permission", "deleted experiment"])
def test_each_failure_is_one_line_naming_the_fix(auth_server, monkeypatch, user, experiment, expected):
    from sweep.tracking.store import preflight

    _as(monkeypatch, *user)
    with pytest.raises(UserError) as caught:
        preflight(auth_server, experiment)
    line = str(caught.value)
    assert expected in line and "\n" not in line and ". Fix: " in line, line
    assert user[1] not in line, "never the password"


def test_the_launcher_stops_before_the_data_with_exit_2(auth_server, tmp_path):
    proc = launch(tmp_path, "data=digits", f"tracking.uri={auth_server}", "tracking.experiment=open",
                  env=launch_env(MLFLOW_TRACKING_USERNAME="reader", MLFLOW_TRACKING_PASSWORD="wrong-password"),
                  timeout=120)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "refused the credentials (HTTP 401)" in lines[0]
    assert "MLFLOW_TRACKING_USERNAME" in lines[0] and "wrong-password" not in proc.stdout + proc.stderr
    assert "data digits" not in proc.stdout, "nothing was loaded"


@pytest.mark.slow
def test_an_mlflow_refusal_after_the_preflight_is_one_line_with_exit_1(auth_server, tmp_path):
    """READ passes the preflight's read; the parent run's creation is refused once Ray is up."""
    proc = launch(tmp_path, "data=digits", "search.num_samples=1", "train.epochs=1", f"tracking.uri={auth_server}",
                  "tracking.experiment=readonly", "name=refused",
                  env=launch_env(MLFLOW_TRACKING_USERNAME="reader", MLFLOW_TRACKING_PASSWORD="reader-password-123"),
                  timeout=300)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("regsweep: error:")]
    assert len(errors) == 1 and "the MLflow server refused a call after the preflight" in errors[0], proc.stderr
    assert "resume=true" in errors[0] and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_no_secret_reaches_a_param_a_tag_an_artifact_or_the_console(auth_server, tmp_path):
    """An authenticated sweep: the password (given the way MLflow documents, in the environment)
    appears nowhere a reader of the experiment or of the console could see it."""
    from mlflow.tracking import MlflowClient

    secret = ADMIN[1]
    proc = launch(tmp_path, "data=digits", "search.num_samples=2", "train.epochs=1", "train.batch_size=64",
                  "search.confirm_seeds=0", f"tracking.uri={auth_server}", "tracking.experiment=secrets",
                  "name=secrets", env=launch_env(MLFLOW_TRACKING_USERNAME=ADMIN[0], MLFLOW_TRACKING_PASSWORD=secret),
                  timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert secret not in proc.stdout + proc.stderr
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_USERNAME", ADMIN[0])
        env.setenv("MLFLOW_TRACKING_PASSWORD", secret)
        client = MlflowClient(auth_server)
        experiment = client.get_experiment_by_name("secrets")
        runs = client.search_runs([experiment.experiment_id])
        assert len(runs) == 3, "the parent and two trials"
        seen = 0
        for run in runs:
            for key, value in {**run.data.params, **run.data.tags}.items():
                assert secret not in f"{key}={value}", (run.info.run_name, key)
            local = Path(client.download_artifacts(run.info.run_id, "", str(tmp_path / run.info.run_id)))
            for path in (p for p in local.rglob("*") if p.is_file()):
                assert secret.encode() not in path.read_bytes(), path
                seen += 1
        assert seen > 5, "the summary files and the models were read"
