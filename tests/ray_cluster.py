"""A real one-node Ray cluster made by ``ray start --head`` with token authentication, as a user makes
one, stopped by its process group when the context exits."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tests.cli import launch_env
from tests.servers import free_port

#: Ray's auth settings a test process may have picked up (a local ray.init sets RAY_AUTH_MODE=token).
RAY_AUTH_VARS = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS")


def env_with_home(home: Path) -> dict[str, str]:
    """The launcher's environment with ``home`` as HOME and none of Ray's auth variables."""
    env = launch_env(HOME=str(home))
    for key in RAY_AUTH_VARS:
        env.pop(key, None)
    return env


@contextmanager
def token_cluster(home: Path, num_cpus: int = 2) -> Iterator[str]:
    """Yield the address of a ``ray start --head`` cluster whose token is in ``home/.ray/auth_token``."""
    (home / ".ray").mkdir(parents=True, exist_ok=True)
    (home / ".ray" / "auth_token").write_text(uuid.uuid4().hex)
    env = {**env_with_home(home), "RAY_AUTH_MODE": "token"}
    address = f"127.0.0.1:{free_port()}"
    log = open(home / "ray-start.log", "wb")
    proc = subprocess.Popen(["ray", "start", "--head", f"--port={address.split(':')[1]}", f"--num-cpus={num_cpus}",
                             "--include-dashboard=false", "--block"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for _ in range(60):
            ready = subprocess.run(["ray", "status", f"--address={address}"], env=env, capture_output=True,
                                   text=True, timeout=120)
            if ready.returncode == 0:
                break
        assert ready.returncode == 0, (home / "ray-start.log").read_text()[-3000:]
        yield address
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        _forget(address)


def _forget(address: str) -> None:
    """Remove the pointer ``ray start`` left to this (now stopped) cluster, which a plain
    ``ray.init()`` elsewhere would try to join."""
    current = Path("/tmp/ray/ray_current_cluster")
    try:
        if current.read_text().strip().endswith(":" + address.rsplit(":", 1)[1]):
            current.unlink()
    except OSError:
        pass
