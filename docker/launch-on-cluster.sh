#!/bin/sh
# The compose `launcher`: join the Ray cluster as a node with no CPUs (a Tune driver must run on a
# cluster node; Ray Client cannot run Tune), run one sweep on it, then leave the cluster.
#   docker compose run --rm launcher data=digits search.num_samples=8
# Defaults from the environment (overridable on the command line): tracking.uri=$MLFLOW_TRACKING_URI,
# cluster.storage_path=$RAY_STORAGE_PATH.
set -eu
: "${RAY_HEAD_ADDRESS:?set RAY_HEAD_ADDRESS, e.g. ray-head:6379}"
if ! ray start --address="$RAY_HEAD_ADDRESS" --num-cpus=0 --num-gpus=0 ${RAY_NODE_ARGS:-} >/tmp/ray-start.log 2>&1; then
  echo "regsweep: error: cannot join the Ray cluster at $RAY_HEAD_ADDRESS ($(tail -n 1 /tmp/ray-start.log)). Fix: start the stack with docker compose up -d and check ray-head" >&2
  exit 2
fi
trap 'ray stop --force >/dev/null 2>&1 || true' EXIT
has() { for arg in "$@"; do case "$arg" in "$KEY"=*) return 0;; esac; done; return 1; }
KEY=tracking.uri; if [ -n "${MLFLOW_TRACKING_URI:-}" ] && ! has "$@"; then set -- "tracking.uri=$MLFLOW_TRACKING_URI" "$@"; fi
KEY=cluster.storage_path; if [ -n "${RAY_STORAGE_PATH:-}" ] && ! has "$@"; then set -- "cluster.storage_path=$RAY_STORAGE_PATH" "$@"; fi
python -m sweep.launch cluster=remote cluster.address=auto "$@"
