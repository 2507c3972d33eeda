"""The Optuna define-by-run search space: conditional, so only valid combinations exist.

The space holds only real penalties: ``regularizer`` (l1, l2, elastic_net), then ``placement``,
``lambda`` (log-uniform) and, for elastic net, ``l1_ratio`` (scikit-learn's meaning: 1 = pure L1).
The unregularized baseline is not a search point: the searcher measures it once, as the control
(see ``sweep.search.searcher``). Optuna's multivariate TPE (``group=True``) models the conditional branches
separately instead of mixing them.
"""

from __future__ import annotations

from typing import Any, Optional

from sweep.config.schema import SearchConfig
from trainables.choices import Sampler
from trainables import names


#: The penalized runs of keras-regularizers-emnist.txt (its "none" run is the baseline); elastic net
#: l1=l2=0.01 is lambda=0.02, l1_ratio=0.5.
ARTICLE_POINTS: tuple[dict[str, Any], ...] = (
    {names.REGULARIZER: names.L2, names.PLACEMENT: names.ACTIVITY, names.LAMBDA: 0.01},
    {names.REGULARIZER: names.L2, names.PLACEMENT: names.KERNEL_BIAS, names.LAMBDA: 0.01},
    {names.REGULARIZER: names.L1, names.PLACEMENT: names.ACTIVITY, names.LAMBDA: 0.01},
    {names.REGULARIZER: names.L1, names.PLACEMENT: names.KERNEL_BIAS, names.LAMBDA: 0.01},
    {names.REGULARIZER: names.ELASTIC_NET, names.PLACEMENT: names.ACTIVITY, names.LAMBDA: 0.02, names.L1_RATIO: 0.5},
    {names.REGULARIZER: names.ELASTIC_NET, names.PLACEMENT: names.KERNEL_BIAS, names.LAMBDA: 0.02,
     names.L1_RATIO: 0.5},
    {names.REGULARIZER: names.L2, names.PLACEMENT: names.ACTIVITY, names.LAMBDA: 0.1},
)


def start_points(search: SearchConfig, prior: Optional[list[dict[str, Any]]] = None) -> list[dict[str, Any]]:
    """The penalized configs Optuna tries first: the data profile's suggestion (``search.prior=auto``;
    those inside the space), the user's points, then (with ``search.article_points``) the article's
    runs that lie inside the space, each once."""
    points = [dict(p) for p in prior or [] if _inside(p, search)]
    points += [dict(p) for p in search.points_to_evaluate
               if p.get(names.REGULARIZER, names.NONE) != names.NONE and dict(p) not in points]
    if search.article_points:
        points += [dict(p) for p in ARTICLE_POINTS if _inside(p, search) and dict(p) not in points]
    return points


def _inside(point: dict[str, Any], search: SearchConfig) -> bool:
    ratio = point.get(names.L1_RATIO)
    return (point[names.REGULARIZER] in search.regularizers and point[names.PLACEMENT] in search.placements
            and search.lambda_low <= point[names.LAMBDA] <= search.lambda_high
            and (ratio is None or search.l1_ratio_low <= ratio <= search.l1_ratio_high))


#: What ``l1_ratio`` means in this version; a sweep started under another meaning cannot resume.
L1_RATIO_MEANING = "sklearn: 1 = pure L1"


class RegularizationSpace:
    """A picklable define-by-run function (Tune pickles the searcher into its experiment state)."""

    def __init__(self, search: SearchConfig) -> None:
        self.regularizers = [r for r in search.regularizers if r != names.NONE]
        self.placements = list(search.placements)
        self.lambda_range = (float(search.lambda_low), float(search.lambda_high))
        self.l1_ratio_range = (float(search.l1_ratio_low), float(search.l1_ratio_high))

    def __call__(self, trial: Any) -> None:
        """Suggest one configuration on the Optuna ``trial``."""
        reg = trial.suggest_categorical(names.REGULARIZER, self.regularizers)
        trial.suggest_categorical(names.PLACEMENT, self.placements)
        trial.suggest_float(names.LAMBDA, *self.lambda_range, log=True)
        if reg == names.ELASTIC_NET:
            trial.suggest_float(names.L1_RATIO, *self.l1_ratio_range)
        return None

    @property
    def searchable(self) -> bool:
        """False when only the baseline was asked for: there is nothing for Optuna to propose."""
        return bool(self.regularizers)

    def fingerprint(self) -> dict[str, Any]:
        """What defines the space; a resumed sweep must have the same one."""
        return {
            "l1_ratio_meaning": L1_RATIO_MEANING,
            "regularizers": self.regularizers,
            "placements": self.placements,
            "lambda_range": list(self.lambda_range),
            "l1_ratio_range": list(self.l1_ratio_range),
        }


def make_sampler(seed: int, startup_trials: int = 10, kind: str = Sampler.tpe) -> Any:
    """The seeded Optuna sampler; ``startup_trials`` random (or enqueued) trials come before it models
    the results. TPE is multivariate over the conditional space and windowed
    (``sweep.search.windowed_tpe``) so that each suggestion costs the same at 10,000 trials as at 1,000.
    GP is Optuna's ``GPSampler`` over regularizer, placement and log-lambda; elastic net's l1_ratio, in
    only some trials, falls back to random sampling (said once here, not at every trial)."""
    import warnings

    import optuna

    with warnings.catch_warnings():  # multivariate/group are stable in practice but flagged experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if kind == Sampler.gp:
            return optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup_trials,
                                             warn_independent_sampling=False)
        from sweep.search.windowed_tpe import WindowedTPESampler

        return WindowedTPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=startup_trials)
