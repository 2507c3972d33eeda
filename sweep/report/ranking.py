"""Noise-aware ranking of configs: every config is a mean over its seeds, with a spread.

One trial is one draw: on a validation split of a few hundred examples, two configs that differ by
one example cannot be told apart. So the summary groups the completed trials of each config (the
search trial and its confirmation runs) and ranks configs by their mean. Two configs are equal unless
the best is ahead beyond noise: where they share two or more confirmation seeds, unless the paired
t interval of their validation differences (``sweep.stats.paired``) lies above 0; where they do not (one
seed each, before confirmation), unless the gap exceeds ``NOISE_Z`` binomial standard errors of the
split, a rough floor that knows nothing of seed-to-seed noise. Among configs equal to the best, the
simplest wins: no regularization first, then the smallest λ (the tuning playbook's preference for
the least intervention that does the job).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import pandas as pd

from sweep.common.labels import config_label
from sweep.stats.binomial import binomial_sd
from sweep.stats.paired import paired_difference
from trainables import names

#: Binomial standard errors a gap between one-seed configs must exceed to count as real (the rough
#: floor for configs that share no confirmation seeds; paired seeds use a t interval instead).
NOISE_Z = 2.0
#: The confidence level of the paired intervals when the caller gives none (``search.confidence``).
DEFAULT_CONFIDENCE = 0.95
#: The params that identify a config (the seed does not).
CONFIG_KEYS = (names.REGULARIZER, names.PLACEMENT, names.LAMBDA, names.L1_RATIO)
#: Columns of the per-config table, in display order.
STATS_COLUMNS = (*CONFIG_KEYS, "n_seeds", "val_mean", "val_sd", "test_mean", "test_sd", names.SPARSITY)


def _key(value: Any) -> str:
    """A config value as a printable key: NaN never equals NaN, and a numpy float prints otherwise
    than the same Python float."""
    if value is None or pd.isna(value):
        return "-"
    return repr(float(value)) if isinstance(value, (int, float, np.number)) and not isinstance(value, bool) \
        else str(value)


def seed_values(table: pd.DataFrame, config: Any, metric: str, phase: Optional[str] = None) -> dict[int, float]:
    """Seed -> ``metric`` of the completed trials of ``config`` (a row with the config keys), of
    ``phase`` only when given: what paired comparisons line up."""
    done = table[table[names.COL_STATE] == names.STATE_COMPLETED]
    if phase is not None:
        done = done[done[names.COL_PHASE] == phase]
    wanted = tuple(_key(config.get(k) if hasattr(config, "get") else config[k]) for k in CONFIG_KEYS)
    out: dict[int, float] = {}
    for _, row in done.iterrows():
        if tuple(_key(row.get(k)) for k in CONFIG_KEYS) == wanted:
            value = pd.to_numeric(row.get(metric), errors="coerce")
            if not pd.isna(value):
                out[int(row[names.SEED])] = float(value)
    return out


def config_stats(table: pd.DataFrame) -> pd.DataFrame:
    """One row per config over its completed trials: seeds, mean and sd of val and test accuracy,
    ranked by mean validation accuracy (best first)."""
    done = table[table[names.COL_STATE] == names.STATE_COMPLETED].copy()
    if done.empty:
        return pd.DataFrame(columns=list(STATS_COLUMNS))
    for key in CONFIG_KEYS:  # NaN never equals NaN: group on a printable key instead
        done[f"_k_{key}"] = done[key].map(_key)
    rows = []
    for _, group in done.groupby([f"_k_{k}" for k in CONFIG_KEYS], sort=False):
        first = group.iloc[0]
        val = pd.to_numeric(group[names.VAL_ACCURACY], errors="coerce").dropna()
        test = pd.to_numeric(group[names.TEST_ACCURACY], errors="coerce").dropna()
        rows.append({
            **{k: first[k] for k in CONFIG_KEYS},
            "n_seeds": int(len(group)),
            "val_mean": float(val.mean()), "val_sd": _sd(val),
            "test_mean": float(test.mean()) if len(test) else float("nan"), "test_sd": _sd(test),
            names.SPARSITY: float(pd.to_numeric(group[names.SPARSITY], errors="coerce").mean()),
        })
    stats = pd.DataFrame(rows, columns=list(STATS_COLUMNS))
    return stats.sort_values("val_mean", ascending=False, kind="stable").reset_index(drop=True)


def _sd(values: pd.Series) -> float:
    return float(values.std(ddof=1)) if len(values) >= 2 else float("nan")


def diff_se(a: Any, b: Any, metric: str, n_examples: int) -> float:
    """Standard error of ``mean(a) - mean(b)`` for ``metric`` (val or test), from the spread over
    seeds. A config measured with one seed has no spread to show, so it gets the binomial spread of
    its split; seeds that happen to agree still count as at least one example apart."""
    return math.sqrt(_var_of_mean(a, metric, n_examples) + _var_of_mean(b, metric, n_examples))


def _var_of_mean(row: Any, metric: str, n_examples: int) -> float:
    n = max(1, int(row["n_seeds"]))
    mean, sd = float(row[f"{metric}_mean"]), float(row[f"{metric}_sd"])
    sd = binomial_sd(mean, n_examples) if n == 1 or math.isnan(sd) else max(sd, 1.0 / max(1, n_examples))
    return sd * sd / n


def simplicity(row: Any) -> tuple[int, float]:
    """Sort key: none first, then the smallest λ."""
    if row[names.REGULARIZER] == names.NONE:
        return (0, 0.0)
    return (1, float(row[names.LAMBDA]))


def recommend(stats: pd.DataFrame, n_val: int, candidates: Optional[pd.DataFrame] = None,
              table: Optional[pd.DataFrame] = None, confidence: float = DEFAULT_CONFIDENCE) -> Optional[pd.Series]:
    """The config to recommend: among ``candidates`` (default: every config), those the best does
    not beat beyond noise (``tied``); of those, the simplest."""
    pool = stats if candidates is None else candidates
    if pool.empty:
        return None
    best = pool.iloc[int(pool["val_mean"].to_numpy().argmax())]
    return min((row for _, row in pool.iterrows() if tied(best, row, n_val, table, confidence)), key=simplicity)


def tied(best: Any, row: Any, n_val: int, table: Optional[pd.DataFrame] = None,
         confidence: float = DEFAULT_CONFIDENCE) -> bool:
    """``best`` does not beat ``row`` on validation beyond noise: on two or more shared confirmation
    seeds, the paired t interval of ``best - row`` reaches 0; otherwise the gap is within
    ``NOISE_Z`` binomial standard errors of the split."""
    if table is not None:
        diff = paired_difference(seed_values(table, best, names.VAL_ACCURACY, names.PHASE_CONFIRM),
                                 seed_values(table, row, names.VAL_ACCURACY, names.PHASE_CONFIRM), confidence,
                                 min_seeds=2)
        if diff.n >= 2:
            return not diff.above_zero
    return best["val_mean"] - row["val_mean"] <= NOISE_Z * diff_se(best, row, "val", n_val)


def confirmed(stats: pd.DataFrame, seeds: int) -> pd.DataFrame:
    """The configs measured with at least ``seeds`` seeds (all of them when that is 1 or less)."""
    return stats if seeds <= 1 else stats[stats["n_seeds"] >= seeds]


def choose(stats: pd.DataFrame, n_val: int, seeds: int, table: Optional[pd.DataFrame] = None,
           confidence: float = DEFAULT_CONFIDENCE) -> tuple[Optional[pd.Series], Optional[pd.Series]]:
    """The recommendation and the best penalized config, both among the confirmed configs (all
    configs when none is confirmed); the verdict states the latter's gain when the former is none.
    With ``table``, configs that share confirmation seeds are compared pairwise (``tied``)."""
    pool = confirmed(stats, seeds)
    if pool.empty:
        pool = stats
    penalized = pool[pool[names.REGULARIZER] != names.NONE]
    return (recommend(stats, n_val, pool, table, confidence) if not pool.empty else None,
            recommend(stats, n_val, penalized, table, confidence) if not penalized.empty else None)


@dataclass(frozen=True)
class ConfirmedChoice:
    """The answer from the confirmation seeds alone."""

    recommended: pd.Series
    """The config with the best estimated test accuracy: the penalty with the largest mean paired gain
    over no regularization when that gain is above 0, else no regularization."""
    best_penalized: pd.Series
    """The penalty with the largest mean paired gain (the one the verdict states)."""
    stats: pd.DataFrame
    """Per-config statistics over the confirmation seeds only: the figures of best_config.json."""


def confirmed_choice(table: pd.DataFrame, confidence: float = DEFAULT_CONFIDENCE) -> Optional[ConfirmedChoice]:
    """The recommendation from confirmation seeds only (None when no penalty was paired with the
    baseline there). The search trials never count: each was picked as the best of many on its own seed,
    so its figure is biased upwards (the winner's curse). The estimate of a config's test accuracy is the
    baseline's plus its mean paired gain, so configs compare on the seeds they share with the baseline."""
    confirm = table[table[names.COL_PHASE] == names.PHASE_CONFIRM]
    stats = config_stats(confirm)
    base = stats[stats[names.REGULARIZER] == names.NONE]
    if base.empty:
        return None
    base_row = base.iloc[0]
    base_test = seed_values(table, base_row, names.TEST_ACCURACY, names.PHASE_CONFIRM)
    gains = []
    for _, row in stats[stats[names.REGULARIZER] != names.NONE].iterrows():
        gain = paired_difference(seed_values(table, row, names.TEST_ACCURACY, names.PHASE_CONFIRM), base_test,
                                 confidence, min_seeds=2)
        if gain.n:
            gains.append((gain.mean, row))
    if not gains:
        return None
    mean, best = max(gains, key=lambda g: g[0])
    return ConfirmedChoice(best if mean > 0 else base_row, best, stats)


def render_stats(stats: pd.DataFrame) -> str:
    """The per-config table for the terminal: mean ± sd (n seeds)."""
    if stats.empty:
        return "(no completed trials)"
    lines = [f"{'config':<48} {'seeds':>5} {'val_accuracy':>17} {'test_accuracy':>17} {'sparsity':>8}"]
    for _, row in stats.iterrows():
        lines.append(f"{config_label(row):<48} {int(row['n_seeds']):>5} "
                     f"{mean_pm_sd(row['val_mean'], row['val_sd']):>17} {mean_pm_sd(row['test_mean'], row['test_sd']):>17} "
                     f"{float(row[names.SPARSITY]):>8.4f}")
    return "\n".join(lines)


def mean_pm_sd(mean: float, sd: float) -> str:
    """``0.9800 ± 0.0100``; the mean alone without a spread (one seed), ``-`` without a mean."""
    if math.isnan(mean):
        return "-"
    return f"{mean:.4f}" if math.isnan(sd) else f"{mean:.4f} ± {sd:.4f}"
