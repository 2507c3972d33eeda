"""How a config is named wherever a person reads it: the console, the per-config table, the verdict,
the child runs' names. One function, so every place names a config the same way."""

from __future__ import annotations

from typing import Any

import pandas as pd

from trainables import names

_REG_NAMES = {names.L1: "L1", names.L2: "L2", names.ELASTIC_NET: "elastic net"}


def regularizer_name(reg: str) -> str:
    """How people write a regularizer: L1, L2, elastic net."""
    return _REG_NAMES.get(reg, reg)


def arm_label(reg: str, placement: Any) -> str:
    """A regularizer and where it goes, without λ: ``L1 on kernel and bias``."""
    return f"{regularizer_name(reg)} on {str(placement).replace('_', ' and ')}"


def config_label(row: Any) -> str:
    """A short human name: ``L2 on activity, λ=0.01`` or ``no regularization``."""
    reg = row[names.REGULARIZER]
    if reg == names.NONE:
        return "no regularization"
    label = f"{arm_label(reg, row[names.PLACEMENT])}, λ={float(row[names.LAMBDA]):.2g}"
    ratio = row.get(names.L1_RATIO)
    if reg == names.ELASTIC_NET and ratio is not None and not pd.isna(ratio):
        label += f", l1_ratio={float(ratio):.2f}"
    return label


def describe(config: Any) -> str:
    """A trial's config in words, as the per-config table names it (``config_label``), with the
    weight seed of a confirmation run: ``L2 on activity, λ=0.01 (seed 1)``."""
    seed = config.get(names.SEED)
    text = config_label(config)
    return text if seed is None or pd.isna(seed) else f"{text} (seed {int(seed)})"
