"""Connecting the driver to Ray: a local Ray by default, or an existing cluster by address."""

from __future__ import annotations

import logging
import os
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

from sweep.config.schema import ClusterConfig
from trainables.errors import UserError
from trainables.tf_runtime import stderr_to_log

#: Ray's switch for token authentication (``token`` or ``disabled``), read when Ray starts or connects.
AUTH_MODE_ENV = "RAY_AUTH_MODE"
#: What Ray's GCS client prints while a cluster refuses its token (or its lack of one).
AUTH_REFUSED = ("InvalidAuthToken", "Unauthenticated")
#: Quiet TensorFlow's C++ start-up chatter in every Ray worker. Workers get no MLflow settings or
#: credentials: only the driver talks to the tracking server.
BASE_WORKER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}
PREFLIGHT_TIMEOUT_S = 5.0


def worker_env(modules: Sequence[Path] = ()) -> dict[str, Any]:
    """Ray runtime env for the trial workers. On a cluster, ``modules`` (the user's model module or
    package) travel with the job through ``py_modules``; a local Ray's workers already start in the
    working directory and import from it."""
    env: dict[str, Any] = {"env_vars": dict(BASE_WORKER_ENV)}
    if modules:
        env["py_modules"] = [str(m) for m in modules]
    return env


def preflight(cluster: ClusterConfig, timeout: float = PREFLIGHT_TIMEOUT_S) -> None:
    """Fail in seconds, before anything starts: a local Ray too small for one trial, or a cluster
    address that does not accept connections (``ray.init`` would keep retrying for a minute or more)."""
    if not cluster.address:  # a local Ray gets this machine's CPUs
        local_cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        check_trial_fits([{"Alive": True, "Resources": {"CPU": local_cpus}}], cluster.cpus_per_trial, 0.0)
        return
    if cluster.address == "auto":
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


def connect(cluster: ClusterConfig, modules: Sequence[Path] = (), quiet: bool = False) -> bool:
    """Initialize Ray; return True when this call started it (and so should shut it down).
    ``modules``: the user's code the workers of a cluster need (``worker_env``). ``quiet``: the
    workers' output stays in Ray's session logs instead of the terminal, and Ray says only errors."""
    import ray

    if ray.is_initialized():
        return False
    if cluster.address:
        _join(cluster.address, modules, quiet)
    else:
        warning = local_auth_warning(os.environ)
        if warning:
            print(warning, file=sys.stderr, flush=True)
        # address="local": a Ray of its own, never whatever cluster /tmp/ray/ray_current_cluster names
        # (a running `ray start` cluster, or a dead one, where ray.init() waited forever)
        ray.init(address="local", runtime_env=worker_env(), include_dashboard=False, log_to_driver=not quiet,
                 logging_level=logging.ERROR if quiet else logging.WARNING)
    if quiet:  # Tune's own warnings (snapshot frequency, token auth) are for --verbose
        for logger in ("ray", "ray.tune", "ray.train"):
            logging.getLogger(logger).setLevel(logging.ERROR)
    return True


def local_auth_warning(env: Mapping[str, str]) -> str | None:
    """The line to print when an inherited ``RAY_AUTH_MODE=disabled`` would start a local Ray with
    its token authentication off (Ray itself says nothing about it)."""
    if env.get(AUTH_MODE_ENV, "").lower() != "disabled":
        return None
    return (f"regsweep: WARNING: {AUTH_MODE_ENV}=disabled is set, so the local Ray starts without token "
            f"authentication: any local user can run code in it (unset {AUTH_MODE_ENV} to keep it on)")


def _join(address: str, modules: Sequence[Path], quiet: bool) -> None:
    """Connect to the cluster at ``address`` as Ray's own CLI does: in token mode when a token is at
    hand (``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``) and ``RAY_AUTH_MODE``
    is unset. ``ray.init`` with an explicit address never turns token mode on by itself, so a driver
    would be refused by every cluster ``ray start`` made. The GCS client's retry lines go to a log
    (replayed on stderr with ``--verbose``); a refused token is one line that says how to give one."""
    import ray

    from sweep.internals.ray_internals import enable_token_auth_if_token_available

    token_mode = enable_token_auth_if_token_available()
    with tempfile.NamedTemporaryFile("w+", prefix="regsweep-ray-init-", suffix=".log") as log:
        try:
            with stderr_to_log(log.name):
                ray.init(address=address, runtime_env=worker_env(modules), log_to_driver=not quiet,
                         logging_level=logging.ERROR if quiet else logging.WARNING)
            failure: Exception | None = None
        except Exception as exc:  # ConnectionError, TimeoutError, RuntimeError from the GCS client
            failure = exc
        log.seek(0)
        said = log.read()
    if not quiet and said:
        sys.stderr.write(said)
    if failure is None:
        return
    if any(marker in said or marker in str(failure) for marker in AUTH_REFUSED):
        raise UserError(
            f"the Ray cluster at cluster.address={address} refused this launcher's token authentication "
            + ("(the token here is not the cluster's)" if token_mode else "(no token here)"),
            "copy the head node's token (run `ray get-auth-token` there) into ~/.ray/auth_token on this "
            "machine, or set RAY_AUTH_TOKEN, and run again")
    reason = str(failure).strip().splitlines()[0] if str(failure).strip() else type(failure).__name__
    raise _unreachable(address, reason) from None


def check_trial_fits(nodes: list[dict[str, Any]], cpus_per_trial: float, gpus_per_trial: float) -> None:
    """Refuse a per-trial request that no single node can hold: Ray would keep such a trial PENDING
    forever (it never spans nodes) while printing autoscaler errors."""
    alive = [n.get("Resources", {}) for n in nodes if n.get("Alive")]
    best_cpu = max((float(r.get("CPU", 0)) for r in alive), default=0.0)
    best_gpu = max((float(r.get("GPU", 0)) for r in alive), default=0.0)
    if cpus_per_trial > best_cpu:
        raise UserError(f"cluster.cpus_per_trial={cpus_per_trial:g} but the largest Ray node has "
                        f"{best_cpu:g} CPUs, so no trial could ever start",
                        f"use cluster.cpus_per_trial={best_cpu:g} or less, or add bigger nodes")
    if gpus_per_trial > best_gpu:
        raise UserError(f"cluster.gpus_per_trial={gpus_per_trial:g} but the largest Ray node has "
                        f"{best_gpu:g} GPUs, so no trial could ever start",
                        "use cluster.gpus_per_trial=0 on a CPU cluster, or add GPU nodes")


def cluster_summary() -> dict[str, Any]:
    """CPU/GPU totals and node count of the connected cluster."""
    import ray

    res = ray.cluster_resources()
    nodes = ray.nodes()
    return {
        "cpus": float(res.get("CPU", 0)),
        "gpus": float(res.get("GPU", 0)),
        "nodes": len([n for n in nodes if n.get("Alive")]),
        "node_list": nodes,
    }


def disconnect(started: bool) -> None:
    """Shut Ray down if we started it."""
    import ray

    if started and ray.is_initialized():
        ray.shutdown()
