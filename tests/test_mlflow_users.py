"""The compose launcher's MLflow user (docker/mlflow-users.py), against a real basic-auth server:
made as a plain user that can write its own experiments but not manage users, and made again safely."""

from __future__ import annotations

import subprocess
import sys

import pytest
from mlflow.exceptions import MlflowException
from mlflow.server.auth.client import AuthServiceClient
from mlflow.tracking import MlflowClient

from tests.conftest import REPO
from tests.servers import ADMIN, mlflow_server

SCRIPT = REPO / "docker" / "mlflow-users.py"
pytestmark = pytest.mark.slow  # a basic-auth server and three script runs: about a minute


@pytest.fixture(scope="module")
def auth_uri(tmp_path_factory):
    with mlflow_server(tmp_path_factory.mktemp("users"), auth=True) as uri:
        yield uri


def _run(uri: str, password: str, user: str = "regsweep") -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN[1], "MLFLOW_LAUNCHER_USER": user,
           "MLFLOW_LAUNCHER_PASSWORD": password}
    return subprocess.run([sys.executable, str(SCRIPT), uri], env=env, capture_output=True, text=True, timeout=120)


def _as(monkeypatch, user: str, password: str) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)


def test_the_launcher_user_writes_its_own_experiment_but_is_no_admin(auth_uri, monkeypatch):
    first = _run(auth_uri, "Launcher-pass-1")
    assert first.returncode == 0 and "created" in first.stdout, first.stderr
    _as(monkeypatch, "regsweep", "Launcher-pass-1")
    client = MlflowClient(tracking_uri=auth_uri)
    exp = client.create_experiment("launcher-own")
    run = client.create_run(exp, run_name="L2 on activity, λ=0.01 · seed 0")
    client.log_metric(run.info.run_id, "val_accuracy", 0.9)
    with pytest.raises(MlflowException) as refused:
        AuthServiceClient(auth_uri).create_user("intruder", "Intruder-pass-1")
    assert refused.value.get_http_status_code() == 403

    _as(monkeypatch, *ADMIN)
    admin = AuthServiceClient(auth_uri)
    assert admin.get_user("regsweep").is_admin is False
    assert admin.get_user_permission("regsweep", "experiment", exp).permission == "MANAGE"


def test_running_it_again_keeps_the_user_and_takes_the_new_password(auth_uri, monkeypatch):
    assert _run(auth_uri, "Launcher-pass-1").returncode == 0
    again = _run(auth_uri, "Launcher-pass-2")
    assert again.returncode == 0 and "updated" in again.stdout, again.stderr
    _as(monkeypatch, "regsweep", "Launcher-pass-2")
    assert MlflowClient(tracking_uri=auth_uri).search_experiments() is not None
    _as(monkeypatch, "regsweep", "Launcher-pass-1")
    with pytest.raises(MlflowException):
        MlflowClient(tracking_uri=auth_uri).search_experiments()


def test_no_password_or_the_admin_name_is_one_line_with_exit_2(auth_uri):
    missing = _run(auth_uri, "")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "MLFLOW_LAUNCHER_PASSWORD" in missing.stderr
    admin = _run(auth_uri, "Launcher-pass-1", user="admin")
    assert admin.returncode != 0 and "must not be the admin" in admin.stderr
