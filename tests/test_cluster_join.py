"""Joining a cluster that ``ray start`` made: Ray 2.60 turns token authentication on there, and a
driver given an explicit address never turns token mode on by itself. The launcher joins the way Ray's
own CLI does (token mode when a token is at hand), or says in one line that the cluster wants a token.
Before, it printed about 20 lines of ``InvalidAuthToken`` and then "cannot reach the Ray cluster",
exit 2, although the cluster was running."""

from __future__ import annotations

import pytest

from tests.cli import launch
from tests.ray_cluster import env_with_home as _env
from tests.ray_cluster import token_cluster as ray_token_cluster

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def token_cluster(tmp_path_factory):
    """(address, home with the cluster's token) of a one-node `ray start --head` cluster with token auth."""
    home = tmp_path_factory.mktemp("home")
    with ray_token_cluster(home) as address:
        yield address, home


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


def test_a_local_sweep_runs_its_own_ray_beside_a_running_cluster(token_cluster, tmp_path):
    """Without cluster.address the launcher starts a Ray of its own: before, ray.init() joined the
    cluster that /tmp/ray/ray_current_cluster named, and waited forever once that cluster had died."""
    from tests.ray_cluster import token_cluster as another_cluster

    _, home = token_cluster
    with another_cluster(tmp_path / "other", num_cpus=1):  # the newest `ray start`: ray_current_cluster names it
        proc = launch(tmp_path, "data=digits", "search.num_samples=2", "train.epochs=1", "search.confirm_seeds=0",
                      "name=local", env=_env(home), timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "regsweep: ray: 1 node(s), 2 CPUs" in proc.stdout, "its own Ray (the running cluster has 1 CPU)"
