"""Make the compose launcher's MLflow user: not an admin, so a task that reads the launcher's
environment holds no admin password. Run by ``docker/mlflow-serve.sh`` as the MLflow admin once the
server answers; safe to run again (an existing user gets the password from ``.env``).

    python docker/mlflow-users.py http://127.0.0.1:5000

Reads MLFLOW_AUTH_ADMIN_PASSWORD (the admin's), MLFLOW_LAUNCHER_USER (default ``regsweep``) and
MLFLOW_LAUNCHER_PASSWORD. The launcher user then creates its own experiments, which gives it MANAGE on
them; an experiment someone else made needs a grant (README, "Deploy a cluster").
"""

from __future__ import annotations

import os
import sys
import time
import urllib.request

ADMIN = "admin"


def wait_healthy(uri: str, timeout_s: float = 300.0) -> None:
    """The server's workers take a while to start; the user store answers only once they have."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=5) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"mlflow-users: the MLflow server at {uri} did not answer in {timeout_s:.0f}s")
        time.sleep(1)


def ensure_user(uri: str, username: str, password: str) -> str:
    """Create ``username`` as a plain user, or reset its password; returns what was done."""
    if username == ADMIN:
        raise SystemExit("mlflow-users: MLFLOW_LAUNCHER_USER must not be the admin. Fix: pick another name")
    from mlflow.exceptions import MlflowException  # here: MLflow's import warns on stderr
    from mlflow.server.auth.client import AuthServiceClient

    client = AuthServiceClient(uri)
    try:
        client.create_user(username, password)
        return "created"
    except MlflowException as err:
        if err.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    client.update_user_password(username, password)
    client.update_user_admin(username, False)
    return "updated"


def main(argv: list[str]) -> int:
    uri = argv[1] if len(argv) > 1 else "http://127.0.0.1:5000"
    password = os.environ.get("MLFLOW_LAUNCHER_PASSWORD", "")
    if not password:
        print("mlflow-users: MLFLOW_LAUNCHER_PASSWORD is not set. Fix: set it in .env (see .env.example)",
              file=sys.stderr)
        return 2
    os.environ["MLFLOW_TRACKING_USERNAME"] = ADMIN  # the client authenticates from these two
    os.environ["MLFLOW_TRACKING_PASSWORD"] = os.environ["MLFLOW_AUTH_ADMIN_PASSWORD"]
    wait_healthy(uri)
    username = os.environ.get("MLFLOW_LAUNCHER_USER") or "regsweep"
    print(f"mlflow-users: launcher user {username!r} {ensure_user(uri, username, password)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
