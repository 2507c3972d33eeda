#!/bin/sh
# The compose `launcher`: join the Ray cluster as a node with no CPUs (Ray's drivers must run on a
# cluster node; Ray Client cannot run Tune), run one sweep on it, then leave the cluster.
#   docker compose run --rm launcher data=digits search.num_samples=8
set -eu
: "${RAY_HEAD_ADDRESS:?set RAY_HEAD_ADDRESS, e.g. ray-head:6379}"
ray start --address="$RAY_HEAD_ADDRESS" --num-cpus=0 --num-gpus=0 ${RAY_NODE_ARGS:-} >/tmp/ray-start.log 2>&1 \
  || { cat /tmp/ray-start.log >&2; exit 2; }
trap 'ray stop --force >/dev/null 2>&1 || true' EXIT
python -m sweep.launch cluster=remote cluster.address=auto "$@"
