"""The compose deployment, really run: a Docker engine, our image on a debootstrap base, Postgres,
MLflow with basic auth, a Ray head with two CPU workers, and a digits sweep through the launcher.

Needs root, Debian's docker.io, docker-compose and debootstrap (``.ci/run`` installs them) and
access to the package registries for the image build. Run it with ``python -m pytest -m docker``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO
from tests.servers import free_port, wait_healthy
from trainables import names

pytestmark = pytest.mark.docker

OVERRIDE = REPO / "docker" / "test" / "docker-compose.test.yml"
N_TRIALS = 4
UID = 1000  # the image's user, regsweep (docker/Dockerfile)
PORTS = ("TEST_PG_PORT", "TEST_MLFLOW_PORT", "TEST_RAY_PORT", "TEST_DASHBOARD_PORT", "TEST_CLIENT_PORT",
         "TEST_AGENT_PORT_HEAD", "TEST_AGENT_PORT_1", "TEST_AGENT_PORT_2", "TEST_AGENT_PORT_LAUNCHER")


#: What each image is built from. An image is tagged by a hash of its inputs (its base's tag included),
#: so a run with nothing changed finds every image built and builds none, and a change to any input
#: builds that image and the ones on top of it.
BASE_INPUTS = ("docker/test/build-base.sh",)
IMAGE_INPUTS = ("docker/Dockerfile", ".dockerignore", "pyproject.toml", "README.md", "sweep", "trainables", "conf",
                "docker/mlflow-auth.ini", "docker/launch-on-cluster.sh", "docker/mlflow-serve.sh", "docker/mlflow-users.py")
POSTGRES_INPUTS = ("docker/test/Dockerfile.postgres", "docker/test/postgres-entrypoint.sh")


def inputs_hash(inputs: tuple[str, ...], *also: str) -> str:
    """12 hex digits of sha256 over the files under ``inputs`` (paths and bytes, bytecode left out) and ``also``."""
    digest = hashlib.sha256()
    for entry in inputs:
        path = REPO / entry
        files = sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts) \
            if path.is_dir() else [path]
        for f in files:
            digest.update(str(f.relative_to(REPO)).encode() + b"\0" + f.read_bytes() + b"\0")
    for extra in also:
        digest.update(extra.encode() + b"\0")
    return digest.hexdigest()[:12]


BASE_IMAGE = f"regsweep-base:{inputs_hash(BASE_INPUTS)}"
IMAGE = f"regsweep:test-{inputs_hash(IMAGE_INPUTS, BASE_IMAGE)}"
POSTGRES_IMAGE = f"regsweep-postgres:{inputs_hash(POSTGRES_INPUTS, BASE_IMAGE)}"


def have_image(tag: str) -> bool:
    return sh("docker", "image", "inspect", tag, check=False, timeout=60).returncode == 0


def sh(*args: str, env: dict | None = None, timeout: int = 1800, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(args), cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args[:4])}... exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def engine() -> Iterator[None]:
    """A running Docker engine: the one already there, or a dockerd this fixture starts (no bridge,
    no iptables: every container uses the host network) and stops by pid."""
    if sh("docker", "info", check=False, timeout=60).returncode == 0:
        yield
        return
    log = open("/tmp/regsweep-dockerd.log", "ab")
    proc = subprocess.Popen(["dockerd", "--bridge=none", "--iptables=false"], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while sh("docker", "info", check=False, timeout=30).returncode != 0:
        assert time.monotonic() < deadline and proc.poll() is None, "dockerd did not start; see /tmp/regsweep-dockerd.log"
        time.sleep(1)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()


@pytest.fixture(scope="module")
def images(engine) -> dict[str, float]:
    """The debootstrap base and our image on it, each built only when no image of its inputs' hash
    exists; returns how long each step took (0 s: it was there)."""
    took = {}
    start = time.monotonic()
    sh(str(REPO / "docker" / "test" / "build-base.sh"), BASE_IMAGE)  # skips an existing tag itself
    took["base image"] = time.monotonic() - start
    start = time.monotonic()
    if not have_image(IMAGE):
        sh("docker", "build", "--network", "host", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}",
           "-f", "docker/Dockerfile", "-t", IMAGE, ".")
    took["project image"] = time.monotonic() - start
    return took


def test_image_tags_follow_their_inputs(tmp_path):
    """Nothing changed: the same tags (so nothing is built again); a changed input: a new tag for its
    image and for every image built on it."""
    assert inputs_hash(IMAGE_INPUTS, BASE_IMAGE) == IMAGE.rsplit("-", 1)[1]
    assert inputs_hash(BASE_INPUTS) == BASE_IMAGE.split(":")[1]
    assert inputs_hash(IMAGE_INPUTS, "regsweep-base:other") != IMAGE.rsplit("-", 1)[1], "a new base rebuilds on it"
    assert inputs_hash(("pyproject.toml",)) != inputs_hash(("README.md",))


class Stack:
    """The compose project: the real file plus the test override, rendered once with ``config``."""

    def __init__(self, workdir: Path) -> None:
        token = workdir / "ray_auth_token"
        token.write_text(secrets.token_hex(32))
        self.outputs = workdir / "outputs"
        self.outputs.mkdir()
        os.chown(self.outputs, UID, UID)  # a bind mount the image's non-root user writes
        self.env = {
            "PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"),
            "POSTGRES_PASSWORD": secrets.token_hex(12), "MLFLOW_ADMIN_PASSWORD": "A1-" + secrets.token_hex(12),
            "MLFLOW_LAUNCHER_PASSWORD": "L1-" + secrets.token_hex(12),
            "MLFLOW_SECRET_KEY": secrets.token_hex(24), "RAY_AUTH_TOKEN_FILE": str(token),
            "BASE_IMAGE": BASE_IMAGE, "REGSWEEP_IMAGE": IMAGE, "REGSWEEP_WORKER_IMAGE": IMAGE,
            "TEST_POSTGRES_IMAGE": POSTGRES_IMAGE,
            "REGSWEEP_OUTPUTS": str(self.outputs), **{p: str(free_port()) for p in PORTS},
        }
        self.project = f"regsweep-test-{secrets.token_hex(3)}"
        self.uri = f"http://127.0.0.1:{self.env['TEST_MLFLOW_PORT']}"
        rendered = sh("docker-compose", "-f", "docker-compose.yml", "-f", str(OVERRIDE), "config", env=self.env).stdout
        config = yaml.safe_load(rendered)
        for service in config["services"].values():  # docker refuses published ports on the host network
            if service.get("network_mode") == "host":
                service.pop("ports", None)
        self.file = workdir / "compose.rendered.yml"
        self.file.write_text(yaml.safe_dump(config, sort_keys=False))

    def compose(self, *args: str, timeout: int = 1800, check: bool = True) -> subprocess.CompletedProcess:
        return sh("docker-compose", "-p", self.project, "--project-directory", str(REPO), "-f", str(self.file),
                  *args, env=self.env, timeout=timeout, check=check)

    def up(self) -> None:
        self.compose("up", "-d", "--no-build", "--scale", "ray-worker=0")
        wait_healthy(self.uri, timeout=300)
        self.wait_for_launcher_user(timeout=300)

    def wait_for_launcher_user(self, timeout: float) -> None:
        """`run --no-deps launcher` skips compose's wait on the mlflow healthcheck: wait here until the
        launcher's user (made by docker/mlflow-users.py once the server answers) can log in."""
        token = base64.b64encode(f"regsweep:{self.env['MLFLOW_LAUNCHER_PASSWORD']}".encode()).decode()
        request = urllib.request.Request(f"{self.uri}/api/2.0/mlflow/experiments/search?max_results=1",
                                         headers={"Authorization": f"Basic {token}"})
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(request, timeout=10):
                    return
            except (urllib.error.HTTPError, OSError) as err:
                if time.monotonic() > deadline:
                    logs = self.compose("logs", "--tail", "30", "mlflow", check=False).stdout
                    raise AssertionError(f"the launcher's MLflow user cannot log in ({err})\n{logs}")
                time.sleep(2)

    def psql(self, query: str) -> str:
        return self.compose("exec", "-T", "-e", f"PGPASSWORD={self.env['POSTGRES_PASSWORD']}", "postgres", "psql",
                            "-h", "127.0.0.1", "-p", self.env["TEST_PG_PORT"], "-U", "mlflow", "-d", "mlflow",
                            "-tAc", query).stdout.strip()


@pytest.fixture(scope="module")
def stack(images, tmp_path_factory) -> Iterator[Stack]:
    st = Stack(tmp_path_factory.mktemp("compose"))
    start = time.monotonic()
    if not have_image(POSTGRES_IMAGE):
        st.compose("build", "postgres")
    images["postgres image"] = time.monotonic() - start
    try:
        start = time.monotonic()
        st.up()
        images["stack up"] = time.monotonic() - start
        yield st
    finally:
        st.compose("down", "-v", "--remove-orphans", check=False, timeout=300)
        print("compose test timings: " + ", ".join(f"{k} {v:.0f}s" for k, v in images.items()))


#: Run in a container: its uid, PID 1's command line, and every process's command line (what ps shows).
PROCESS_REPORT = (
    "import os, pathlib\n"
    "def cmd(p):\n"
    "    try: return pathlib.Path(p, 'cmdline').read_bytes().replace(b'\\0', b' ').decode(errors='replace')\n"
    "    except OSError: return ''\n"
    "print(os.getuid()); print(cmd('/proc/1'))\n"
    "print(' | '.join(cmd(p) for p in pathlib.Path('/proc').iterdir() if p.name.isdigit()))\n"
)


def test_a_sweep_through_the_launcher_runs_on_the_cluster_and_persists(stack, images, monkeypatch):
    from mlflow.tracking import MlflowClient

    start = time.monotonic()
    proc = stack.compose("run", "--rm", "--no-deps", "launcher", "data=digits", f"search.num_samples={N_TRIALS}",
                         "train.epochs=2", "train.batch_size=64", "scheduler=fifo", "cluster.cpus_per_trial=1", "name=compose-sweep",
                         "search.confirm_seeds=0", "train.collapse_after=0",
                         "tracking.experiment=compose", timeout=1200)
    images["sweep"] = time.monotonic() - start
    assert f"=== sweep compose-sweep: {N_TRIALS} trials" in proc.stdout, proc.stdout[-3000:]

    table = pd.read_csv(stack.outputs / "compose-sweep" / "results.csv")
    assert len(table) == N_TRIALS and set(table["state"]) == {names.STATE_COMPLETED}
    assert table[names.NODE_ID].nunique() >= 2 and table["node_ip"].nunique() >= 2, table

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{stack.uri}/api/2.0/mlflow/experiments/search?max_results=10", timeout=10)
    assert refused.value.code == 401

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", stack.env["MLFLOW_ADMIN_PASSWORD"])
    client = MlflowClient(tracking_uri=stack.uri)

    def runs() -> tuple[list, list]:
        exp = client.get_experiment_by_name("compose")
        found = client.search_runs([exp.experiment_id])
        return ([r for r in found if r.data.tags.get(names.TAG_ROLE) == names.ROLE_PARENT],
                [r for r in found if r.data.tags.get(names.TAG_ROLE) == names.ROLE_TRIAL])

    parents, children = runs()
    assert len(parents) == 1 and len(children) == N_TRIALS
    assert {c.data.tags[names.TAG_NODE_ID] for c in children} == set(table[names.NODE_ID])
    assert stack.psql("select count(*) from runs") == str(N_TRIALS + 1), "the runs live in Postgres"

    from mlflow.server.auth.client import AuthServiceClient
    auth = AuthServiceClient(stack.uri)
    exp_id = client.get_experiment_by_name("compose").experiment_id
    assert auth.get_user("regsweep").is_admin is False
    assert auth.get_user_permission("regsweep", "experiment", exp_id).permission == "MANAGE", \
        "the launcher's own user made the experiment, not the admin"
    for service in ("mlflow", "ray-head"):
        ident = stack.compose("exec", "-T", service, "python", "-c", PROCESS_REPORT).stdout
        uid, pid1, cmdlines = ident.split("\n", 2)
        assert uid == str(UID) and "docker-init" in pid1, (service, uid, pid1)
        for secret in ("POSTGRES_PASSWORD", "MLFLOW_ADMIN_PASSWORD", "MLFLOW_LAUNCHER_PASSWORD"):
            assert stack.env[secret] not in cmdlines, f"{secret} is on a command line in {service}"

    start = time.monotonic()
    stack.compose("down", timeout=300)  # keeps the named volumes
    stack.up()
    images["down + up"] = time.monotonic() - start
    parents_after, children_after = runs()
    assert [p.info.run_id for p in parents_after] == [p.info.run_id for p in parents]
    assert sorted(c.info.run_id for c in children_after) == sorted(c.info.run_id for c in children)


def test_a_users_own_model_and_npz_reach_the_workers_of_the_cluster(stack, images, tmp_path, monkeypatch):
    """The model module exists only in the launcher's working directory: the workers (other
    containers) get it through Ray's runtime env (py_modules), the arrays through the object store."""
    import numpy as np
    from mlflow.tracking import MlflowClient
    from sklearn.datasets import load_digits

    from tests.test_own_e2e import MODEL_FILE

    (tmp_path / "own_mlp.py").write_text(MODEL_FILE)
    digits = load_digits()
    np.savez(tmp_path / "vectors.npz", x_train=(digits.data / 16.0).astype("float32"), y_train=digits.target)
    start = time.monotonic()
    proc = stack.compose("run", "--rm", "--no-deps", "-v", f"{tmp_path / 'own_mlp.py'}:/work/own_mlp.py:ro",
                         "-v", f"{tmp_path / 'vectors.npz'}:/work/vectors.npz:ro", "launcher",
                         "model=own_mlp:build", "data=npz", "data.path=vectors.npz", "search.num_samples=2",
                         "train.epochs=2", "train.batch_size=64", "scheduler=fifo", "cluster.cpus_per_trial=1",
                         "name=compose-own", "search.confirm_seeds=0", "train.collapse_after=0",
                         "tracking.experiment=compose-own", timeout=1200)
    images["own-model sweep"] = time.monotonic() - start
    assert "=== sweep compose-own: 2 trials" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = pd.read_csv(stack.outputs / "compose-own" / "results.csv")
    assert set(table["state"]) == {names.STATE_COMPLETED}, table

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", stack.env["MLFLOW_ADMIN_PASSWORD"])
    client = MlflowClient(tracking_uri=stack.uri)
    exp = client.get_experiment_by_name("compose-own")
    children = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get(names.TAG_ROLE) == names.ROLE_TRIAL]
    assert len(children) == 2
    for child in children:
        assert child.data.params[names.MODEL] == "own_mlp:build"
        assert child.data.params[names.REGULARIZED_LAYERS] in ("none", "hidden1,hidden2,head")
        assert "sparsity/hidden1" in child.data.metrics
