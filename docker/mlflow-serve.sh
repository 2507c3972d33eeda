#!/bin/sh
# The compose `mlflow` service: MLflow's server with basic auth (arguments passed through), then the
# launcher's non-admin user (docker/mlflow-users.py). The healthcheck waits for the ready file, so the
# launcher starts only once its user exists.
#   entrypoint: /app/docker/mlflow-serve.sh; command: --app-name basic-auth --port 5000 ...
set -eu
: "${MLFLOW_LOCAL_URL:=http://127.0.0.1:5000}"
READY=/tmp/regsweep-mlflow-ready
rm -f "$READY"
mlflow server "$@" &
server=$!
trap 'kill -TERM "$server" 2>/dev/null; wait "$server"; exit 143' TERM INT
python /app/docker/mlflow-users.py "$MLFLOW_LOCAL_URL"
touch "$READY"
wait "$server"
