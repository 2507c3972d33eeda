"""A real ``mlflow server`` on 127.0.0.1 for tests: SQLite backend, proxied artifacts, stopped by pid."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(uri: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"mlflow server at {uri} did not become healthy")


#: The admin of a test server with basic auth (``mlflow_server(..., auth=True)``).
ADMIN = ("admin", "regsweep-test-admin-password")


@contextmanager
def mlflow_server(root: Path, port: int | None = None, auth: bool = False,
                  default_permission: str = "READ") -> Iterator[str]:
    """Run ``mlflow server`` until the context exits; yield its URI. ``auth``: MLflow's basic-auth app,
    with the admin ``ADMIN`` and ``default_permission`` for every other user."""
    port = port or free_port()
    root.mkdir(parents=True, exist_ok=True)
    log = open(root / "server.log", "ab")
    env = dict(os.environ)
    extra: list[str] = []
    if auth:
        ini = root / "auth.ini"
        ini.write_text(f"[mlflow]\ndefault_permission = {default_permission}\n"
                       f"database_uri = sqlite:///{root / 'auth.db'}\nadmin_username = {ADMIN[0]}\n"
                       "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")
        env.update(MLFLOW_AUTH_CONFIG_PATH=str(ini), MLFLOW_AUTH_ADMIN_PASSWORD=ADMIN[1],
                   MLFLOW_FLASK_SERVER_SECRET_KEY="regsweep-test-secret")
        extra = ["--app-name", "basic-auth"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
         "--artifacts-destination", str(root / "artifacts"), "--workers", "1", *extra],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(uri)
        yield uri
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
