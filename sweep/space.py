"""The Optuna define-by-run search space: conditional, so only valid combinations exist.

``regularizer`` is always chosen; ``placement`` and ``lambda`` (log-uniform) only for a real
penalty; ``l1_ratio`` only for elastic net. Optuna's multivariate TPE (``group=True``) models the
conditional branches separately instead of mixing them.
"""

from __future__ import annotations

from typing import Any

from sweep.config import SearchConfig
from trainables import names


class RegularizationSpace:
    """A picklable define-by-run function (Tune pickles the searcher into its experiment state)."""

    def __init__(self, search: SearchConfig) -> None:
        self.regularizers = list(search.regularizers)
        self.placements = list(search.placements)
        self.lambda_range = (float(search.lambda_low), float(search.lambda_high))
        self.l1_ratio_range = (float(search.l1_ratio_low), float(search.l1_ratio_high))

    def __call__(self, trial: Any) -> None:
        """Suggest one configuration on the Optuna ``trial``."""
        reg = trial.suggest_categorical(names.REGULARIZER, self.regularizers)
        if reg == names.NONE:
            return None
        trial.suggest_categorical(names.PLACEMENT, self.placements)
        trial.suggest_float(names.LAMBDA, *self.lambda_range, log=True)
        if reg == names.ELASTIC_NET:
            trial.suggest_float(names.L1_RATIO, *self.l1_ratio_range)
        return None

    def fingerprint(self) -> dict[str, Any]:
        """What defines the space; a resumed sweep must have the same one."""
        return {
            "regularizers": self.regularizers,
            "placements": self.placements,
            "lambda_range": list(self.lambda_range),
            "l1_ratio_range": list(self.l1_ratio_range),
        }


def make_sampler(seed: int) -> Any:
    """Seeded multivariate TPE that handles the conditional space."""
    import warnings

    import optuna

    with warnings.catch_warnings():  # multivariate/group are stable in practice but flagged experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)
