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
#: Trial config key of a confirmation run's weight seed (search trials use ``train.seed``).
SEED = "seed"
#: Trial config key (and MLflow param) of a confirmation run's own train/validation/test split: every
#: paired seed deals the examples anew, the same for the baseline and the candidates at that seed.
SPLIT_SEED = "split_seed"
#: Child-run params that say which model was swept and which of its layers took the regularizer.
MODEL = "model"
REGULARIZED_LAYERS = "regularized_layers"

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

# --- is the sparsity real? (trainables.metrics.pruning; at the end of a completed trial) ---
TEST_ACCURACY_PRUNED = "test_accuracy_pruned"
PRUNED_FRACTION = "pruned_fraction"
PRUNING_PREFIX = "pruning/"
PRUNING_ACCURACY = "test_accuracy"
PRUNING_REMOVED = "removed"


def pruning_metric(kind: str, threshold: float) -> str:
    """A point of the pruning curve, e.g. ``pruning/test_accuracy_at_0.01``."""
    return f"{PRUNING_PREFIX}{kind}_at_{threshold:g}"


# --- weight and activation figures ---
SPARSITY = "sparsity"
SPARSITY_LAYER_PREFIX = "sparsity/"
KERNEL_L1_NORM = "kernel_l1_norm"
KERNEL_L2_NORM = "kernel_l2_norm"
ACTIVATION_SPARSITY = "activation_sparsity"
#: The sparsity that counts: the largest fraction of kernel weights that global magnitude pruning
#: (smallest |w| first) removes while validation accuracy stays within ``search.accuracy_tolerance`` of
#: the unpruned model's; 0 for a model at chance level, which has no accuracy to keep
#: (``trainables.metrics.removable``). The ``sparsity`` objective of ``search.objectives`` is this metric.
REMOVABLE = "removable"
#: Rungs at which the scheduler spared the trial (a late bloomer keeping pace with the baseline, which
#: ASHA alone would have stopped); set by the driver on the trial's results (``sweep.search.rungs``).
SPARED = "spared"

# --- end-of-trial metrics ---
TEST_LOSS = "test_loss"
TEST_ACCURACY = "test_accuracy"

# --- where a trial's time goes (seconds) ---
#: Each epoch: the wall time of its ``fit`` call (training and validation). The rest of the epoch's
#: time (probes, checkpoint, test evaluation) is the trial's overhead.
TIME_FIT_S = "time_fit_s"
#: Reported to Tune (not an MLflow metric) with the first epoch after a start or restart: seconds from
#: the trial's start to its first training step (TensorFlow import, model build, data pipeline).
TIME_SETUP_S = "time_setup_s"

# --- end-state flags reported with the last result (1.0 = true) ---
FINISHED = "finished"
DIVERGED = "diverged"
#: Validation accuracy stayed at chance level after the grace period: the trial stopped itself.
COLLAPSED = "collapsed"

#: The key Ray Tune adds to every result: the trial's id (MLflow child runs are keyed by it).
RAY_TRIAL_ID = "trial_id"
#: Reported to Tune with every result (not an MLflow metric): the Ray node that trained the epoch.
NODE_ID = "node_id"

# --- the objective every scheduler and searcher uses ---
OBJECTIVE = VAL_ACCURACY
OBJECTIVE_MODE = "max"
#: ``search.objectives`` entries and the metric each one maximizes: the sparsity objective is the
#: removable fraction, so a model at chance cannot win it.
OBJECTIVE_METRICS = {VAL_ACCURACY: VAL_ACCURACY, SPARSITY: REMOVABLE}

# --- trial end states (summary column and MLflow tag values) ---
STATE_COMPLETED = "completed"
STATE_STOPPED = "stopped_early"
STATE_DIVERGED = "diverged"
STATE_COLLAPSED = "collapsed"
STATE_ERRORED = "errored"
STATE_RUNNING = "running"
#: End states that say the config is bad (told to Optuna as the worst value, never retried).
FAILED_CONFIG_STATES = (STATE_DIVERGED, STATE_COLLAPSED)

# --- summary columns (results.csv) besides the params and metrics above ---
COL_TRIAL = "trial"
COL_STATE = "state"
COL_EPOCHS = "epochs"
COL_NODE_IP = "node_ip"
#: search (proposed by Optuna) or confirm (a top config re-run with another seed)
COL_PHASE = "phase"
PHASE_SEARCH = "search"
PHASE_CONFIRM = "confirm"


#: Every metric a trial logs to its MLflow child run each epoch (besides per-layer sparsity).
TRIAL_METRICS = (EPOCH, *EPOCH_METRICS, SPARSITY, KERNEL_L1_NORM, KERNEL_L2_NORM, ACTIVATION_SPARSITY,
                 REMOVABLE, TIME_FIT_S, FINISHED, DIVERGED, COLLAPSED, TEST_LOSS, TEST_ACCURACY, TEST_ACCURACY_PRUNED,
                 PRUNED_FRACTION)
#: Logged only from the epoch at which they apply (``spared``: once the scheduler spared the trial).
SOMETIMES_METRICS = (SPARED,)
#: Logged only at the last epoch.
LAST_EPOCH_METRICS = (TEST_LOSS, TEST_ACCURACY, TEST_ACCURACY_PRUNED, PRUNED_FRACTION)
#: Logged at the last epoch, or every epoch when an objective needs it (the scheduler ranks rungs on it).
LAST_OR_EVERY_EPOCH_METRICS = (REMOVABLE,)


def layer_sparsity_metric(layer: str) -> str:
    """Name of the per-layer sparsity metric, e.g. ``sparsity/conv1``."""
    return f"{SPARSITY_LAYER_PREFIX}{layer}"


def is_trial_metric(key: str) -> bool:
    """True for the keys of a Tune result that the trial also logs to MLflow."""
    return (key in TRIAL_METRICS or key in SOMETIMES_METRICS or key.startswith(SPARSITY_LAYER_PREFIX)
            or key.startswith(PRUNING_PREFIX))

# --- MLflow tags and artifact names ---
TAG_SWEEP = "regsweep.sweep"
TAG_ROLE = "regsweep.role"
TAG_TRIAL_ID = "regsweep.trial_id"
#: A child run's start key: a retried create finds the run an earlier try made (no duplicate).
TAG_START_KEY = "regsweep.start_key"
TAG_STATE = "regsweep.state"
#: How many times the trial has started: 1, plus one per Ray retry after a crash.
TAG_ATTEMPTS = "regsweep.attempts"
#: On a child run the scheduler spared: the epochs of the rungs at which it went on ("5, 20").
TAG_SPARED = "regsweep.spared_at"
#: The Ray node the trial's latest attempt ran on.
TAG_NODE_ID = "regsweep.node_id"
TAG_COMMAND = "regsweep.command"
#: On the parent run while a launcher drives the sweep: "<holder> <unix time it lapses>", renewed
#: by that launcher; a second launcher (any machine) refuses a sweep whose lease has not lapsed.
TAG_LEASE = "regsweep.lease"
#: Tables on the parent run (``mlflow.log_table``): every trial, per-config means, the Pareto front.
TABLE_TRIALS = "tables/trials.json"
TABLE_CONFIGS = "tables/configs.json"
TABLE_PARETO = "tables/pareto_front.json"
#: On the parent run: the recommended config (JSON) and the verdict's headline.
TAG_BEST_CONFIG = "regsweep.best_config"
TAG_VERDICT = "regsweep.verdict"
#: On every completed child run: "true" when it is on the accuracy/sparsity Pareto front, else "false".
TAG_PARETO = "regsweep.pareto"
TAG_GIT_COMMIT = "mlflow.source.git.commit"
TAG_PARENT_RUN = "mlflow.parentRunId"
#: Tells the MLflow UI to open the experiment on its training-runs view, not the GenAI overview.
TAG_EXPERIMENT_KIND = "mlflow.experimentKind"
EXPERIMENT_KIND_TRAINING = "custom_model_development"
ROLE_PARENT = "sweep"
#: MLflow run statuses (``mlflow.entities.RunStatus`` names) regsweep sets.
RUN_RUNNING = "RUNNING"
RUN_FINISHED = "FINISHED"
RUN_FAILED = "FAILED"
RUN_KILLED = "KILLED"
ROLE_TRIAL = "trial"
MODEL_NAME = "model"
