"""The article's published results, set beside a sweep's own (``preset=article``).

keras-regularizers-emnist.txt reports test accuracy on EMNIST balanced for three of its eight
configurations, says L2 on kernel/bias is "a bit lower" than L2 on activity, and calls the L1 and
elastic-net runs "very poor". On EMNIST the summary compares the numbers; on other data only the
ranking can be compared: L2 on activity > L2 on activity at λ=0.1 > no regularization > the L1 and
elastic-net runs.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import pandas as pd

from trainables import names

#: (label, config, published test accuracy or None where the article only says "very poor")
PUBLISHED: tuple[tuple[str, dict[str, Any], Optional[float]], ...] = (
    ("no regularization", {names.REGULARIZER: names.NONE}, 0.8729),
    ("L2 on activity", {names.REGULARIZER: names.L2, names.PLACEMENT: names.ACTIVITY, names.LAMBDA: 0.01}, 0.8901),
    ("L2 on activity, λ=0.1", {names.REGULARIZER: names.L2, names.PLACEMENT: names.ACTIVITY, names.LAMBDA: 0.1},
     0.8837),
    ("L2 on kernel and bias", {names.REGULARIZER: names.L2, names.PLACEMENT: names.KERNEL_BIAS, names.LAMBDA: 0.01},
     None),
    ("L1 on kernel and bias", {names.REGULARIZER: names.L1, names.PLACEMENT: names.KERNEL_BIAS, names.LAMBDA: 0.01},
     None),
    ("L1 on activity", {names.REGULARIZER: names.L1, names.PLACEMENT: names.ACTIVITY, names.LAMBDA: 0.01}, None),
    ("elastic net on kernel and bias", {names.REGULARIZER: names.ELASTIC_NET, names.PLACEMENT: names.KERNEL_BIAS,
                                        names.LAMBDA: 0.02, names.L1_RATIO: 0.5}, None),
    ("elastic net on activity", {names.REGULARIZER: names.ELASTIC_NET, names.PLACEMENT: names.ACTIVITY,
                                 names.LAMBDA: 0.02, names.L1_RATIO: 0.5}, None),
)
#: What the article says where it gives no number.
WORDS = {"L2 on kernel and bias": "a bit lower than L2 on activity", "L1 on kernel and bias": "very poor",
         "L1 on activity": "very poor", "elastic net on kernel and bias": "very poor",
         "elastic net on activity": "very poor"}
#: The article's ranking of the configurations it gives numbers for, best first.
PUBLISHED_ORDER = ("L2 on activity", "L2 on activity, λ=0.1", "no regularization")
POOR = ("L1 on kernel and bias", "L1 on activity", "elastic net on kernel and bias", "elastic net on activity")


def _matches(row: pd.Series, config: dict[str, Any]) -> bool:
    for key in names.SEARCH_PARAMS:
        want, got = config.get(key), row.get(key)
        if want is None:
            if got is not None and not (isinstance(got, float) and math.isnan(got)):
                return False
        elif got is None or (isinstance(got, float) and math.isnan(got)):
            return False
        elif isinstance(want, float):
            if not math.isclose(float(got), want, rel_tol=1e-6):
                return False
        elif str(got) != str(want):
            return False
    return True


def ours(stats: pd.DataFrame) -> dict[str, float]:
    """Our mean test accuracy per article configuration, from the per-config table
    (``ranking.config_stats``: completed trials, mean over seeds)."""
    out = {}
    for label, config, _ in PUBLISHED:
        for _, row in stats.iterrows():
            if _matches(row, config) and not pd.isna(row["test_mean"]):
                out[label] = float(row["test_mean"])
    return out


def comparison(stats: pd.DataFrame, dataset: str) -> Optional[str]:
    """The console lines comparing with the article, or None when the sweep ran too few of its configs.
    ``stats`` is the sweep's per-config table (``ranking.config_stats``)."""
    found = ours(stats)
    if len(found) < 3 or not all(label in found for label in PUBLISHED_ORDER):
        return None
    lines = ["the article's study (keras-regularizers-emnist.txt, EMNIST balanced) beside ours "
             f"({dataset}, test accuracy):"]
    for label, _, published in PUBLISHED:
        theirs = f"{published:.4f}" if published is not None else WORDS[label]
        mine = f"{found[label]:.4f}" if label in found else "-"
        lines.append(f"  {label:<32} article {theirs:<34} ours {mine}")
    ranked = sorted(PUBLISHED_ORDER, key=lambda label: -found[label])
    same = tuple(ranked) == PUBLISHED_ORDER
    worst_named = min(found[label] for label in PUBLISHED_ORDER)
    poor = [label for label in POOR if label in found and found[label] < worst_named]
    if dataset == "emnist":
        gaps = ", ".join(f"{label} {100 * (found[label] - pub):+.1f} pp"
                         for label, _, pub in PUBLISHED if pub is not None)
        lines.append(f"  against the published numbers: {gaps}")
    lines.append(f"  ranking: ours {' > '.join(ranked)}; the article's {' > '.join(PUBLISHED_ORDER)}: "
                 + ("the same" if same else "different")
                 + " (an order of the figures above, each a mean over its seeds; no test of the order is made)")
    lines.append(f"  the article calls L1 and elastic net very poor: {len(poor)} of "
                 f"{sum(label in found for label in POOR)} of those runs are below all three named ones here")
    return "\n".join(lines)
