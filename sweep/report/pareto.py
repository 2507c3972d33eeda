"""The accuracy/sparsity answer: the Pareto front of the completed trials, and the compressible model.

A trial is Pareto-optimal when no other completed trial has both higher-or-equal test accuracy and
higher-or-equal sparsity (one of them strictly). Sparsity here is the sparsity that counts: the
removable fraction (``names.REMOVABLE``, the weights pruning removes while validation accuracy stays
within ``search.accuracy_tolerance``); results written before it existed fall back to the fraction
of weights under ``train.sparsity_threshold``. The compressible model is the sparsest completed trial
whose validation accuracy is within ``search.accuracy_tolerance`` of the best one: chosen on
validation, like the best config, and reported with its test and pruned test accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import pandas as pd

from trainables import names

FRONT_CSV = "pareto_front.csv"
#: The columns of the front's table (CSV and console).
FRONT_COLUMNS = (names.COL_TRIAL, names.REGULARIZER, names.PLACEMENT, names.LAMBDA, names.L1_RATIO, names.SEED,
                 names.VAL_ACCURACY, names.TEST_ACCURACY, names.REMOVABLE, names.SPARSITY, names.TEST_ACCURACY_PRUNED,
                 names.PRUNED_FRACTION)


def sparsity_axis(table: pd.DataFrame) -> str:
    """The front's sparsity column: the removable fraction when the trials have it."""
    if names.REMOVABLE in table and pd.to_numeric(table[names.REMOVABLE], errors="coerce").notna().any():
        return names.REMOVABLE
    return names.SPARSITY


def pareto_front(df: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Rows not dominated on (x, y), both to be maximized, sorted by x."""
    pts = df[[x, y]].apply(pd.to_numeric, errors="coerce").dropna()
    keep = []
    for i, (xi, yi) in pts.iterrows():
        dominated = ((pts[x] >= xi) & (pts[y] >= yi) & ((pts[x] > xi) | (pts[y] > yi))).any()
        if not dominated:
            keep.append(i)
    return df.loc[keep].sort_values(x)


@dataclass
class ParetoAnswer:
    """The front and the compressible model of one sweep."""

    front: pd.DataFrame
    """Pareto-optimal completed trials, by increasing sparsity."""
    compressible: Optional[pd.Series]
    """The sparsest completed trial within the tolerance of the best validation accuracy."""
    best_val: float
    tolerance: float
    axis: str = names.REMOVABLE
    """The sparsity column of the front (``sparsity_axis``)."""

    @property
    def trials(self) -> list[str]:
        return [str(t) for t in self.front[names.COL_TRIAL]]


def pareto_answer(table: pd.DataFrame, tolerance: float) -> ParetoAnswer:
    """The front of test accuracy against sparsity over the completed trials, and the compressible model."""
    done = table[table[names.COL_STATE] == names.STATE_COMPLETED].copy() if not table.empty else table
    if done.empty:
        return ParetoAnswer(pd.DataFrame(columns=list(FRONT_COLUMNS)), None, float("nan"), tolerance)
    axis = sparsity_axis(done)
    for col in (names.VAL_ACCURACY, names.TEST_ACCURACY, axis):
        done[col] = pd.to_numeric(done[col], errors="coerce")
    front = pareto_front(done, axis, names.TEST_ACCURACY)
    best_val = float(done[names.VAL_ACCURACY].max())
    near = done[done[names.VAL_ACCURACY] >= best_val - tolerance - 1e-12]
    compressible = near.sort_values([axis, names.VAL_ACCURACY], ascending=False).iloc[0] if not near.empty else None
    return ParetoAnswer(front, compressible, best_val, tolerance, axis)


def front_table(answer: ParetoAnswer) -> pd.DataFrame:
    return answer.front.reindex(columns=list(FRONT_COLUMNS))


def write_front(answer: ParetoAnswer, out_dir: Path) -> Path:
    path = out_dir / FRONT_CSV
    front_table(answer).to_csv(path, index=False)
    return path


def render(answer: ParetoAnswer, describe: Callable[[pd.Series], str]) -> str:
    """The console lines: the front, then the compressible model (``describe`` names a config)."""
    if answer.front.empty:
        return "accuracy/sparsity Pareto front: no completed trial"
    removable = answer.axis == names.REMOVABLE
    against = (f"the weights removable within {answer.tolerance * 100:g} pp" if removable else "weight sparsity")
    lines = [f"accuracy/sparsity Pareto front ({len(answer.front)} of the completed trials; test accuracy "
             f"against {against}, pruned = test accuracy with every |w| below train.sparsity_threshold set to 0):"]
    label = "removable" if removable else "sparsity"
    for _, row in answer.front.iterrows():
        lines.append(f"  {describe(row):<44} test {_f(row[names.TEST_ACCURACY])}  {label} "
                     f"{_f(row[answer.axis])}  pruned {_f(row.get(names.TEST_ACCURACY_PRUNED))} "
                     f"({_pct(row.get(names.PRUNED_FRACTION))} of weights removed)")
    c = answer.compressible
    if c is not None:
        lines.append(f"compressible model (the sparsest within {answer.tolerance * 100:g} pp of the best val_accuracy "
                     f"{answer.best_val:.4f}): {describe(c)}: val {_f(c[names.VAL_ACCURACY])}, test "
                     f"{_f(c[names.TEST_ACCURACY])}, {label} {_f(c[answer.axis])}, pruned test "
                     f"{_f(c.get(names.TEST_ACCURACY_PRUNED))} with {_pct(c.get(names.PRUNED_FRACTION))} of the "
                     f"weights removed")
    return "\n".join(lines)


def _f(value: object) -> str:
    return "-" if value is None or pd.isna(value) else f"{float(value):.4f}"


def _pct(value: object) -> str:
    return "-" if value is None or pd.isna(value) else f"{float(value):.0%}"
