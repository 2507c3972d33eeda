"""The closed choices of the config as Enums: Hydra and OmegaConf check them at composition and name
the key of a wrong one. ``StrEnum`` members are their names' strings, so every other module keeps
comparing them with the constants of ``trainables.names``."""

from __future__ import annotations

from enum import StrEnum

from trainables import names


class Regularizer(StrEnum):
    """What penalty a trial adds."""

    none = names.NONE
    l1 = names.L1
    l2 = names.L2
    elastic_net = names.ELASTIC_NET


class Placement(StrEnum):
    """Where the penalty goes."""

    kernel = names.KERNEL
    bias = names.BIAS
    activity = names.ACTIVITY
    kernel_bias = names.KERNEL_BIAS


class Precision(StrEnum):
    """Keras' global dtype policy for training."""

    float32 = "float32"
    mixed_bfloat16 = "mixed_bfloat16"
    mixed_float16 = "mixed_float16"


class Scheduler(StrEnum):
    """Early stopping: ASHA stops weak trials, FIFO runs every trial to the end."""

    asha = "asha"
    fifo = "fifo"


class Objective(StrEnum):
    """What the search maximizes: validation accuracy, and optionally weight sparsity too."""

    val_accuracy = names.VAL_ACCURACY
    sparsity = names.SPARSITY


class Sampler(StrEnum):
    """How Optuna proposes configs: windowed multivariate TPE, or Gaussian-process Bayesian optimisation
    (Optuna's ``GPSampler``: needs torch, which Optuna suggests for 10-100 trials)."""

    tpe = "tpe"
    gp = "gp"


class Prior(StrEnum):
    """Whether the data profile's rule of thumb seeds the search's first points."""

    none = "none"
    auto = "auto"
