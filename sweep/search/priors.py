"""The article's "prior knowledge" about the inputs, measured before the sweep, and its rule of thumb.

The article (keras-regularizers-emnist.txt) suggests choosing the penalty from what is known about
the data: sparse or highly correlated inputs favour L2 (it spreads weight over correlated features
instead of picking one; L1's zeros add little when the inputs are zeros already); dense, uncorrelated
inputs favour L1 (it can drop the features that do not matter); when unsure, elastic net. The profile
measures exactly those figures, on a seeded sample so that it stays fast on any data:

- input sparsity: the fraction of zero input values;
- the mean absolute pairwise correlation between features (constant features left out);
- the number of training samples against the number of features.

With ``search.prior=auto`` the suggestion's penalties are tried first (``prior_points``); the summary
then says whether the sweep confirmed or refuted the rule.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sweep.common.labels import regularizer_name
from trainables import names

#: Rows and features the correlation is computed on at most (seeded sample).
SAMPLE_ROWS = 2000
SAMPLE_FEATURES = 256
#: The rule's thresholds: above SPARSE zeros the inputs are sparse; mean |r| above CORRELATED is
#: highly correlated; below DENSE zeros and UNCORRELATED mean |r| the inputs are dense and uncorrelated.
SPARSE = 0.5
CORRELATED = 0.3
DENSE = 0.1
UNCORRELATED = 0.1
#: The points ``search.prior=auto`` tries first for the suggested regularizer (and the placements swept).
PRIOR_LAMBDAS = (1e-4, 1e-3, 1e-2)
PRIOR_L1_RATIO = 0.5


@dataclass(frozen=True)
class DataProfile:
    """The profile's figures and the rule's suggestion."""

    input_sparsity: float
    mean_abs_correlation: float
    n_samples: int
    n_features: int
    suggestion: str
    """l1 | l2 | elastic_net"""
    reason: str

    @property
    def samples_per_feature(self) -> float:
        return self.n_samples / max(1, self.n_features)

    def params(self) -> dict[str, Any]:
        """The parent run's params (``profile.*``)."""
        values = asdict(self)
        values["samples_per_feature"] = round(self.samples_per_feature, 3)
        return {f"profile.{k}": (round(v, 4) if isinstance(v, float) else v) for k, v in values.items()}

    def line(self) -> str:
        return (f"data profile: {self.input_sparsity:.0%} of inputs are zero, mean |correlation| between features "
                f"{self.mean_abs_correlation:.2f}, {self.n_samples} samples for {self.n_features} features. "
                f"The article's rule of thumb: {self.reason}, so start with {regularizer_name(self.suggestion)}")


def profile_inputs(x: np.ndarray, seed: int = 0) -> DataProfile:
    """Profile the training inputs ``x`` (N examples of any shape)."""
    flat = np.asarray(x).reshape(len(x), -1)
    n, d = flat.shape
    rng = np.random.default_rng(seed)
    rows = rng.choice(n, size=min(n, SAMPLE_ROWS), replace=False) if n > SAMPLE_ROWS else np.arange(n)
    sample = flat[np.sort(rows)].astype(np.float64)
    sparsity = float(np.mean(sample == 0)) if sample.size else 0.0
    corr = mean_abs_correlation(sample, rng)
    suggestion, reason = rule_of_thumb(sparsity, corr)
    return DataProfile(input_sparsity=sparsity, mean_abs_correlation=corr, n_samples=int(n), n_features=int(d),
                       suggestion=suggestion, reason=reason)


def mean_abs_correlation(sample: np.ndarray, rng: np.random.Generator) -> float:
    """Mean |Pearson r| over pairs of distinct non-constant features (at most SAMPLE_FEATURES of them)."""
    varying = np.flatnonzero(sample.std(axis=0) > 0)
    if len(varying) > SAMPLE_FEATURES:
        varying = np.sort(rng.choice(varying, size=SAMPLE_FEATURES, replace=False))
    if len(varying) < 2 or len(sample) < 3:
        return 0.0
    r = np.corrcoef(sample[:, varying], rowvar=False)
    off = ~np.eye(len(varying), dtype=bool)
    return float(np.nanmean(np.abs(r[off])))


def rule_of_thumb(sparsity: float, correlation: float) -> tuple[str, str]:
    """The article's suggestion for inputs with this sparsity and correlation, and why."""
    if sparsity >= SPARSE and correlation >= CORRELATED:
        return names.L2, "the inputs are sparse and highly correlated"
    if sparsity >= SPARSE:
        return names.L2, "the inputs are sparse"
    if correlation >= CORRELATED:
        return names.L2, "the inputs are highly correlated"
    if sparsity <= DENSE and correlation <= UNCORRELATED:
        return names.L1, "the inputs are dense and uncorrelated"
    return names.ELASTIC_NET, "the inputs are neither clearly sparse or correlated nor dense and uncorrelated"


def prior_points(profile: DataProfile, placements: list[str]) -> list[dict[str, Any]]:
    """The suggestion's configs for the search's first trials: its regularizer at a few λ on each
    placement swept."""
    points = []
    for placement in placements:
        for lam in PRIOR_LAMBDAS:
            point = {names.REGULARIZER: profile.suggestion, names.PLACEMENT: placement, names.LAMBDA: lam}
            if profile.suggestion == names.ELASTIC_NET:
                point[names.L1_RATIO] = PRIOR_L1_RATIO
            points.append(point)
    return points


def rule_outcome(profile: DataProfile, best_regularizer: str | None, helped: bool) -> str:
    """Whether the sweep's answer bears out the rule of thumb, in one sentence: "proven" only from the claim,
    and no order among the penalties, which no test compares."""
    if best_regularizer is None:
        return "No penalized trial completed, so the rule of thumb was not tested."
    if not helped:
        return (f"The rule of thumb suggested {regularizer_name(profile.suggestion)}; no penalty is proven to beat "
                f"no regularization, so the sweep neither confirms nor refutes it (best penalty: "
                f"{regularizer_name(best_regularizer)}).")
    if best_regularizer == profile.suggestion:
        return (f"The sweep bears out the rule of thumb: {regularizer_name(best_regularizer)}, which it suggested "
                f"({profile.reason}), came out best and is proven to beat no regularization (the penalties were not "
                "tested against each other).")
    return (f"The sweep does not bear out the rule of thumb: it suggested {regularizer_name(profile.suggestion)} "
            f"({profile.reason}), but {regularizer_name(best_regularizer)} came out best and is proven to beat no "
            f"regularization (the two penalties were not tested against each other).")
