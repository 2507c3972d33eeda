"""Connecting the driver to Ray: a local Ray by default, or an existing cluster by address."""

from __future__ import annotations

import logging
from typing import Any

from sweep.config import ClusterConfig
from trainables.errors import UserError

#: Environment for every Ray worker: keep TensorFlow's C++ start-up chatter out of the progress output.
WORKER_ENV = {"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "2"}}


def connect(cluster: ClusterConfig) -> bool:
    """Initialize Ray; return True when this call started it (and so should shut it down)."""
    import ray

    if ray.is_initialized():
        return False
    if cluster.address:
        try:
            ray.init(address=cluster.address, runtime_env=WORKER_ENV, logging_level=logging.WARNING)
        except Exception as exc:  # ConnectionError, TimeoutError, RuntimeError from the GCS client
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(
                f"cannot reach the Ray cluster at cluster.address={cluster.address} ({reason})",
                "start it (ray start --head) or fix cluster.address; drop it to run on a local Ray",
            ) from None
    else:
        ray.init(runtime_env=WORKER_ENV, include_dashboard=False, logging_level=logging.WARNING)
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
