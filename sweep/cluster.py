"""Connecting the driver to Ray: a local Ray by default, or an existing cluster by address."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from sweep.config import ClusterConfig
from trainables.errors import UserError
from trainables.retry import WORKER_MLFLOW_ENV

#: Quiet TensorFlow's C++ start-up chatter, and GitPython's warnings where MLflow looks for a git
#: executable that worker images need not have, in every Ray worker.
BASE_WORKER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "GIT_PYTHON_REFRESH": "quiet", **WORKER_MLFLOW_ENV}
#: Driver environment passed on to trials, so they reach a server that needs credentials or TLS.
PASSED_TO_WORKERS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN",
                     "MLFLOW_TRACKING_INSECURE_TLS", "MLFLOW_TRACKING_SERVER_CERT_PATH")
PREFLIGHT_TIMEOUT_S = 5.0


def worker_env() -> dict[str, Any]:
    """Ray runtime env for the trial workers."""
    passed = {k: os.environ[k] for k in PASSED_TO_WORKERS if os.environ.get(k)}
    return {"env_vars": {**BASE_WORKER_ENV, **passed}}


def preflight(cluster: ClusterConfig, timeout: float = PREFLIGHT_TIMEOUT_S) -> None:
    """Fail in seconds, before anything starts, when ``host:port`` does not accept connections
    (``ray.init`` itself would keep retrying for a minute or more)."""
    if not cluster.address or cluster.address == "auto":
        return
    host, _, port = cluster.address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return
    except OSError as exc:
        raise _unreachable(cluster.address, str(exc) or type(exc).__name__) from None


def _unreachable(address: str, reason: str) -> UserError:
    return UserError(
        f"cannot reach the Ray cluster at cluster.address={address} ({reason})",
        "start it (ray start --head) or fix cluster.address; drop it to run on a local Ray",
    )


def connect(cluster: ClusterConfig) -> bool:
    """Initialize Ray; return True when this call started it (and so should shut it down)."""
    import ray

    if ray.is_initialized():
        return False
    if cluster.address:
        try:
            ray.init(address=cluster.address, runtime_env=worker_env(), logging_level=logging.WARNING)
        except Exception as exc:  # ConnectionError, TimeoutError, RuntimeError from the GCS client
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise _unreachable(cluster.address, reason) from None
    else:
        ray.init(runtime_env=worker_env(), include_dashboard=False, logging_level=logging.WARNING)
    return True


def cluster_summary() -> dict[str, Any]:
    """CPU/GPU totals and node count of the connected cluster."""
    import ray

    res = ray.cluster_resources()
    return {
        "cpus": float(res.get("CPU", 0)),
        "gpus": float(res.get("GPU", 0)),
        "nodes": len([n for n in ray.nodes() if n.get("Alive")]),
    }


def disconnect(started: bool) -> None:
    """Shut Ray down if we started it."""
    import ray

    if started and ray.is_initialized():
        ray.shutdown()
