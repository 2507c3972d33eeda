"""The deployment files, read without running them: the real compose file keeps its promises (ports
on 127.0.0.1 with separate MLflow and Ray settings, no literal secret and none on a command line, a
non-admin launcher, an init process and a non-root user, GPU reservation, healthchecks, token auth
on), and
``docker-compose config`` accepts both it and the test override."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

COMPOSE = REPO / "docker-compose.yml"
OVERRIDE = REPO / "docker" / "test" / "docker-compose.test.yml"
SECRET_WORDS = re.compile(r"PASSWORD|TOKEN|SECRET|KEY", re.I)
#: What the test override's variables need to be for `config` to render.
TEST_ENV = {
    "POSTGRES_PASSWORD": "x", "MLFLOW_ADMIN_PASSWORD": "x", "MLFLOW_LAUNCHER_PASSWORD": "x", "MLFLOW_SECRET_KEY": "x", "BASE_IMAGE": "regsweep-base:local",
    "REGSWEEP_IMAGE": "regsweep:local", "RAY_AUTH_TOKEN_FILE": str(REPO / ".env.example"),
    **{k: "1" for k in ("TEST_PG_PORT", "TEST_MLFLOW_PORT", "TEST_RAY_PORT", "TEST_DASHBOARD_PORT",
                        "TEST_CLIENT_PORT", "TEST_AGENT_PORT_HEAD", "TEST_AGENT_PORT_1", "TEST_AGENT_PORT_2",
                        "TEST_AGENT_PORT_LAUNCHER")},
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_the_stack_has_every_service(compose):
    assert {"postgres", "mlflow", "ray-head", "ray-worker", "launcher"} <= set(compose["services"])
    assert {"postgres-data", "mlflow-artifacts", "ray-results"} <= set(compose["volumes"])


def test_no_port_is_published_on_all_interfaces_and_ray_opens_apart_from_mlflow(compose):
    publish = {"mlflow": "${MLFLOW_PUBLISH_HOST:-127.0.0.1}:", "ray-head": "${RAY_PUBLISH_HOST:-127.0.0.1}:"}
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert name in publish and isinstance(port, str) and port.startswith(publish[name]), (name, port)
    assert "PUBLISH_HOST:" not in COMPOSE.read_text().replace("MLFLOW_PUBLISH_HOST", "").replace("RAY_PUBLISH_HOST", "")


def test_no_literal_secret_and_no_default_password(compose):
    for name, service in compose["services"].items():
        env = service.get("environment") or {}
        for key, value in env.items():
            if SECRET_WORDS.search(key) and not key.endswith("_PATH"):
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", str(value)), (name, key, value)
    text = COMPOSE.read_text()
    assert not re.search(r"\$\{(POSTGRES_PASSWORD|MLFLOW_[A-Z]*PASSWORD|MLFLOW_SECRET_KEY):-", text), "a default"
    example = (REPO / ".env.example").read_text()
    for key in ("POSTGRES_PASSWORD", "MLFLOW_ADMIN_PASSWORD", "MLFLOW_LAUNCHER_PASSWORD", "MLFLOW_SECRET_KEY"):
        assert re.search(rf"^{key}=$", example, re.M), key
    ignored = (REPO / ".gitignore").read_text().split()
    assert ".env" in ignored and "secrets/" in ignored


def test_workers_reserve_gpus_and_ray_keeps_token_auth(compose):
    worker = compose["services"]["ray-worker"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices and devices[0]["capabilities"] == ["gpu"]
    for name in ("ray-head", "ray-worker", "launcher"):
        service = compose["services"][name]
        assert service["environment"]["RAY_AUTH_MODE"] == "token", name
        assert "ray_auth_token" in service["secrets"], name
    assert compose["services"]["ray-head"]["shm_size"]


def test_servers_have_healthchecks_and_mlflow_is_guarded(compose):
    for name in ("postgres", "mlflow", "ray-head"):
        assert compose["services"][name]["healthcheck"]["test"], name
    command = compose["services"]["mlflow"]["command"]
    assert "--app-name basic-auth" in command and "--allowed-hosts mlflow," in command
    assert "postgresql+psycopg2://" in command
    launcher = compose["services"]["launcher"]["environment"]
    assert launcher["MLFLOW_TRACKING_URI"] == "http://mlflow:5000" and launcher["RAY_HEAD_ADDRESS"] == "ray-head:6379"


def test_override_changes_only_what_cannot_work_here():
    override = yaml.safe_load(OVERRIDE.read_text())["services"]
    assert all(s.get("network_mode") == "host" for s in override.values())
    for name, service in override.items():
        assert "ports" not in service and "deploy" not in service, name
    assert set(override) == {"postgres", "mlflow", "ray-head", "ray-worker-cpu-1", "ray-worker-cpu-2", "launcher"}


@pytest.mark.parametrize("files", [[COMPOSE], [COMPOSE, OVERRIDE]], ids=["real", "with-test-override"])
def test_docker_compose_config_validates(files):
    args = ["docker-compose", "--project-directory", str(REPO)]
    for f in files:
        args += ["-f", str(f)]
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", **TEST_ENV}
    proc = subprocess.run([*args, "config", "-q"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_no_secret_on_a_command_line_where_ps_shows_it(compose):
    for file in (COMPOSE, OVERRIDE):
        for name, service in yaml.safe_load(file.read_text())["services"].items():
            command = service.get("command") or ""
            assert "PASSWORD" not in str(command) and "TOKEN" not in str(command), (file.name, name, command)
    mlflow = compose["services"]["mlflow"]
    assert "postgresql+psycopg2://mlflow@postgres:5432/mlflow" in mlflow["command"]
    assert mlflow["environment"]["PGPASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def test_the_launcher_logs_in_as_its_own_user_not_the_admin(compose):
    launcher = compose["services"]["launcher"]["environment"]
    assert launcher["MLFLOW_TRACKING_USERNAME"] == "${MLFLOW_LAUNCHER_USER:-regsweep}"
    assert launcher["MLFLOW_TRACKING_PASSWORD"].startswith("${MLFLOW_LAUNCHER_PASSWORD:?")
    assert "ADMIN" not in str(launcher)
    assert compose["services"]["mlflow"]["entrypoint"] == ["/app/docker/mlflow-serve.sh"]
    script = (REPO / "docker" / "launch-on-cluster.sh").read_text()
    assert "--num-cpus=0 --num-gpus=0" in script


def test_every_service_has_an_init_and_the_image_a_non_root_user(compose):
    for file in (COMPOSE, OVERRIDE):
        services = yaml.safe_load(file.read_text())["services"]
        rendered = compose["services"] if file == COMPOSE else services
        for name, service in rendered.items():
            if file == COMPOSE or name.startswith("ray-worker-cpu"):
                assert service.get("init") is True, (file.name, name)
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    users = re.findall(r"^USER (\S+)$", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0"), users


def test_the_mlflow_server_runs_one_uvicorn_worker_so_kept_alive_requests_do_not_stall(compose):
    """uvicorn with --workers N > 1 leaves Nagle on for accepted connections (its issue #3149): each
    request after a connection's first waited ~40 ms (46 ms against 6 ms, measured), and the driver
    logs every trial over one kept-alive connection, one request at a time."""
    override = yaml.safe_load(OVERRIDE.read_text())
    for where in (compose, override):
        command = where["services"]["mlflow"]["command"]
        workers = re.findall(r"--workers (\d+)", command)
        assert workers == ["1"], command
