"""Joining a cluster that ``ray start`` made: Ray 2.60 turns token authentication on there, and a
driver given an explicit address never turns token mode on by itself. The launcher joins the way Ray's
own CLI does (token mode when a token is at hand), or says in one line that the cluster wants a token.
Before, it printed about 20 lines of ``InvalidAuthToken`` and then "cannot reach the Ray cluster",
exit 2, although the cluster was running."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.cli import launch, launch_env
from tests.servers import free_port

pytestmark = pytest.mark.slow


def _env(home: Path) -> dict[str, str]:
    env = launch_env(HOME=str(home))
    for key in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS"):
        env.pop(key, None)  # a local ray.init earlier in this process sets RAY_AUTH_MODE=token
    return env


@pytest.fixture(scope="module")
def token_cluster(tmp_path_factory):
    """(address, home with the cluster's token) of a one-node `ray start --head` cluster with token
    auth, stopped by its process group afterwards."""
    home = tmp_path_factory.mktemp("home")
    (home / ".ray").mkdir()
    (home / ".ray" / "auth_token").write_text(uuid.uuid4().hex)
    port = free_port()
    env = {**_env(home), "RAY_AUTH_MODE": "token"}
    log = open(home / "ray-start.log", "wb")
    proc = subprocess.Popen(["ray", "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
                             "--block"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"127.0.0.1:{port}"
    try:
        ready = subprocess.run(["ray", "status", f"--address={address}"], env=env, capture_output=True, text=True,
                               timeout=120)
        for _ in range(60):
            if ready.returncode == 0:
                break
            ready = subprocess.run(["ray", "status", f"--address={address}"], env=env, capture_output=True,
                                   text=True, timeout=120)
        assert ready.returncode == 0, (home / "ray-start.log").read_text()[-3000:]
        yield address, home
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def test_the_launcher_joins_a_token_auth_cluster_with_the_token_at_hand(token_cluster, tmp_path):
    address, home = token_cluster
    proc = launch(tmp_path, "data=digits", "search.num_samples=2", "train.epochs=1", "search.confirm_seeds=0",
                  f"cluster.address={address}", "name=joined", env=_env(home), timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "InvalidAuthToken" not in output and "cannot reach" not in output
    assert "regsweep: ray: 1 node(s), 2 CPUs" in proc.stdout
    assert proc.stdout.count(": completed, epoch 1/1") == 2, proc.stdout


def test_without_the_token_the_launcher_says_so_in_one_line(token_cluster, tmp_path):
    address, _ = token_cluster
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    proc = launch(tmp_path, "data=digits", "search.num_samples=2", "train.epochs=1", f"cluster.address={address}",
                  env=_env(stranger), timeout=300)
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, proc.stderr
    assert errors[0].startswith(f"regsweep: error: the Ray cluster at cluster.address={address} refused")
    assert "token" in errors[0] and "ray get-auth-token" in errors[0] and "RAY_AUTH_TOKEN" in errors[0]
    assert "InvalidAuthToken" not in proc.stdout + proc.stderr
    assert not (tmp_path / "ray_results").exists() and not (tmp_path / "mlflow.db").exists(), "nothing started"
