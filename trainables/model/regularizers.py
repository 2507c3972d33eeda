"""The regularizer factory: a validated spec and the Keras objects it puts on each layer.

Keras string ids are traps ("l1l2" silently means no penalty, "l1_l2" raises), so the factory always
builds regularizer objects and passes ``float(lambda)``. Elastic net's mixing ``l1_ratio`` (a) has
scikit-learn's meaning (``sklearn.linear_model.ElasticNet``: 1 = pure L1, 0 = pure L2), so users of
the ecosystem read it the way they already do: penalty = lambda * (a * |w|_1 + (1 - a) * |w|^2),
and Keras gets ``L1L2(l1=lambda * a, l2=lambda * (1 - a))``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from trainables import names
from trainables.errors import ConfigError

#: Which Keras layer arguments each placement fills.
PLACEMENT_ARGS: dict[str, tuple[str, ...]] = {
    names.KERNEL: ("kernel_regularizer",),
    names.BIAS: ("bias_regularizer",),
    names.ACTIVITY: ("activity_regularizer",),
    names.KERNEL_BIAS: ("kernel_regularizer", "bias_regularizer"),
}


@dataclass(frozen=True)
class RegularizerSpec:
    """One point of the search space: which penalty, where, and how strong."""

    kind: str = names.NONE
    """One of none, l1, l2, elastic_net."""
    placement: str = names.KERNEL
    """One of kernel, bias, activity, kernel_bias; ignored for none."""
    lam: float = 0.0
    """Penalty strength lambda; must be > 0 unless kind is none."""
    l1_ratio: float | None = None
    """Elastic-net mixing a in [0, 1], scikit-learn's l1_ratio (1 = pure L1, 0 = pure L2)."""

    def __post_init__(self) -> None:
        if self.kind not in names.REGULARIZERS:
            raise ConfigError(
                names.REGULARIZER,
                f"unknown regularizer {self.kind!r}",
                f"use one of {', '.join(names.REGULARIZERS)}",
            )
        if self.kind == names.NONE:
            return
        if self.placement not in names.PLACEMENTS:
            raise ConfigError(
                names.PLACEMENT,
                f"unknown placement {self.placement!r}",
                f"use one of {', '.join(names.PLACEMENTS)}",
            )
        if not (isinstance(self.lam, (int, float)) and math.isfinite(self.lam) and self.lam > 0):
            raise ConfigError(
                names.LAMBDA,
                f"lambda must be a finite number > 0 for regularizer {self.kind!r}, got {self.lam!r}",
                "pass a positive lambda such as 1e-4, or use regularizer none",
            )
        if self.kind == names.ELASTIC_NET:
            a = self.l1_ratio
            if a is None or not (isinstance(a, (int, float)) and 0.0 <= a <= 1.0):
                raise ConfigError(
                    names.L1_RATIO,
                    f"elastic_net needs l1_ratio in [0, 1], got {a!r}",
                    "pass l1_ratio between 0 (pure L2) and 1 (pure L1), as in scikit-learn",
                )
        elif self.l1_ratio is not None:
            raise ConfigError(
                names.L1_RATIO,
                f"l1_ratio only applies to elastic_net, not {self.kind!r}",
                "drop l1_ratio or use regularizer elastic_net",
            )

    @classmethod
    def from_trial_config(cls, config: Mapping[str, Any]) -> "RegularizerSpec":
        """Build the spec from a Tune trial config (missing keys mean 'not used')."""
        kind = config.get(names.REGULARIZER, names.NONE)
        if kind == names.NONE:
            return cls()
        ratio = config.get(names.L1_RATIO)
        return cls(
            kind=kind,
            placement=config.get(names.PLACEMENT, names.KERNEL),
            lam=float(config.get(names.LAMBDA, 0.0)),
            l1_ratio=None if ratio is None else float(ratio),
        )

    def penalty_weights(self) -> tuple[float, float]:
        """The (l1, l2) factors Keras receives."""
        if self.kind == names.L1:
            return float(self.lam), 0.0
        if self.kind == names.L2:
            return 0.0, float(self.lam)
        if self.kind == names.ELASTIC_NET:
            a = float(self.l1_ratio)  # type: ignore[arg-type]
            return float(self.lam) * a, float(self.lam) * (1.0 - a)
        return 0.0, 0.0

    def as_params(self) -> dict[str, Any]:
        """The contract params for this spec (only the ones that apply)."""
        params: dict[str, Any] = {names.REGULARIZER: self.kind}
        if self.kind != names.NONE:
            params[names.PLACEMENT] = self.placement
            params[names.LAMBDA] = float(self.lam)
        if self.kind == names.ELASTIC_NET:
            params[names.L1_RATIO] = float(self.l1_ratio)  # type: ignore[arg-type]
        return params

    def layer_kwargs(self) -> dict[str, Any]:
        """Keras layer keyword arguments, with a fresh regularizer object per argument."""
        if self.kind == names.NONE:
            return {}
        return {arg: self.regularizer() for arg in PLACEMENT_ARGS[self.placement]}

    def regularizer(self) -> Any:
        """A new Keras regularizer object with this spec's strengths (the kind must not be none)."""
        from keras import regularizers  # lazy: keeps TensorFlow out of the driver's import path

        l1, l2 = self.penalty_weights()
        if self.kind == names.L1:
            return regularizers.L1(l1=l1)
        if self.kind == names.L2:
            return regularizers.L2(l2=l2)
        return regularizers.L1L2(l1=l1, l2=l2)
