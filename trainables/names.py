"""Metric, param, tag and choice names: the contract with Ray Tune, MLflow and the summary.

Every other module refers to these constants, never to the string literals.
"""

from __future__ import annotations

# --- search-space params (Tune config keys and MLflow params) ---
REGULARIZER = "regularizer"
PLACEMENT = "placement"
LAMBDA = "lambda"
L1_RATIO = "l1_ratio"
SEARCH_PARAMS = (REGULARIZER, PLACEMENT, LAMBDA, L1_RATIO)

# --- choices ---
NONE = "none"
L1 = "l1"
L2 = "l2"
ELASTIC_NET = "elastic_net"
REGULARIZERS = (NONE, L1, L2, ELASTIC_NET)

KERNEL = "kernel"
BIAS = "bias"
ACTIVITY = "activity"
KERNEL_BIAS = "kernel_bias"
PLACEMENTS = (KERNEL, BIAS, ACTIVITY, KERNEL_BIAS)

# --- per-epoch metrics (step = epoch) ---
EPOCH = "epoch"
LOSS = "loss"
ACCURACY = "accuracy"
VAL_LOSS = "val_loss"
VAL_ACCURACY = "val_accuracy"
EPOCH_METRICS = (LOSS, ACCURACY, VAL_LOSS, VAL_ACCURACY)

# --- weight and activation figures ---
SPARSITY = "sparsity"
SPARSITY_LAYER_PREFIX = "sparsity/"
KERNEL_L1_NORM = "kernel_l1_norm"
KERNEL_L2_NORM = "kernel_l2_norm"
ACTIVATION_SPARSITY = "activation_sparsity"

# --- end-of-trial metrics ---
TEST_LOSS = "test_loss"
TEST_ACCURACY = "test_accuracy"

# --- end-state flags reported with the last result (1.0 = true) ---
FINISHED = "finished"
DIVERGED = "diverged"

# --- the objective every scheduler and searcher uses ---
OBJECTIVE = VAL_ACCURACY
OBJECTIVE_MODE = "max"

# --- trial end states (summary column and MLflow tag values) ---
STATE_COMPLETED = "completed"
STATE_STOPPED = "stopped_early"
STATE_DIVERGED = "diverged"
STATE_ERRORED = "errored"
STATE_RUNNING = "running"


def layer_sparsity_metric(layer: str) -> str:
    """Name of the per-layer sparsity metric, e.g. ``sparsity/conv1``."""
    return f"{SPARSITY_LAYER_PREFIX}{layer}"

# --- MLflow tags and artifact names ---
TAG_SWEEP = "regsweep.sweep"
TAG_ROLE = "regsweep.role"
TAG_TRIAL_ID = "regsweep.trial_id"
TAG_STATE = "regsweep.state"
TAG_COMMAND = "regsweep.command"
TAG_GIT_COMMIT = "mlflow.source.git.commit"
TAG_PARENT_RUN = "mlflow.parentRunId"
#: Tells the MLflow UI to open the experiment on its training-runs view, not the GenAI overview.
TAG_EXPERIMENT_KIND = "mlflow.experimentKind"
EXPERIMENT_KIND_TRAINING = "custom_model_development"
ROLE_PARENT = "sweep"
ROLE_TRIAL = "trial"
MODEL_NAME = "model"
