"""The sweep summary: one row per trial, the best config, the edge-of-range check, CSV and text.

Trials are ranked with completed ones first (a fair comparison at full budget), then by
validation accuracy. λ is the nuisance parameter of the tuning playbook: if the best λ sits at the
edge of the searched range, the optimum may lie outside it, and the summary says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

import pandas as pd

from sweep.config.schema import SearchConfig
from sweep.common.states import end_state
from trainables import names
from trainables.metrics.pruning import PRUNE_THRESHOLDS

#: Summary columns, in display order.
COLUMNS = (
    names.COL_TRIAL, names.COL_PHASE, names.COL_STATE, names.REGULARIZER, names.PLACEMENT, names.LAMBDA,
    names.L1_RATIO, names.SEED, names.COL_EPOCHS, names.VAL_ACCURACY, names.TEST_ACCURACY, names.SPARSITY,
    names.REMOVABLE, names.TEST_ACCURACY_PRUNED, names.ACTIVATION_SPARSITY, names.COL_NODE_IP, names.NODE_ID, names.PRUNED_FRACTION,
    names.SPARED,
    *(names.pruning_metric(kind, t) for t in PRUNE_THRESHOLDS for kind in (names.PRUNING_ACCURACY, names.PRUNING_REMOVED)),
)
#: Columns of the CSV only (the terminal table leaves them out).
CSV_ONLY = tuple(c for c in COLUMNS if c.startswith(names.PRUNING_PREFIX) or c in (names.PRUNED_FRACTION, names.SPARED))
#: Fraction of the log-λ range at either end that counts as "at the edge".
EDGE_FRACTION = 0.1
_STATE_RANK = {names.STATE_COMPLETED: 0, names.STATE_STOPPED: 1, names.STATE_COLLAPSED: 2,
               names.STATE_DIVERGED: 3, names.STATE_ERRORED: 4}


@dataclass
class TrialRecord:
    """What the summary needs from one finished trial (decoupled from Ray's Result type)."""

    trial: str
    config: Mapping[str, Any]
    metrics: Mapping[str, Any]
    error: bool
    phase: str = names.PHASE_SEARCH
    seed: Optional[int] = None
    """The weight seed it trained with (a confirmation run's config carries its own)."""
    curve: tuple[float, ...] = ()
    """Validation accuracy per epoch, in order (report.html's learning curves)."""


def records_from_results(results: Iterable[Any], phase: str = names.PHASE_SEARCH,
                         seed: Optional[int] = None) -> list[TrialRecord]:
    """Turn Ray's ResultGrid into plain records; ``seed`` is the sweep's train.seed."""
    out = []
    for r in results:
        config = dict(r.config or {})
        out.append(TrialRecord(trial=_trial_id(r), config=config, metrics=dict(r.metrics or {}),
                               error=r.error is not None, phase=phase,
                               seed=config[names.SEED] if config.get(names.SEED) is not None else seed,
                               curve=_curve(r)))
    return out


def _curve(result: Any) -> tuple[float, ...]:
    """The trial's val_accuracy per reported epoch, from Ray's per-result history (empty if none)."""
    frame = getattr(result, "metrics_dataframe", None)
    if frame is None or names.VAL_ACCURACY not in getattr(frame, "columns", ()):
        return ()
    if "training_iteration" in frame.columns:
        frame = frame.sort_values("training_iteration")
    return tuple(float(v) for v in frame[names.VAL_ACCURACY] if v == v)


def _trial_id(result: Any) -> str:
    """Ray's trial id of a result (Ray fills it in even for a trial that never reported; the
    directory name is only a last resort). MLflow child runs are keyed by the id Tune's callbacks see."""
    return str(dict(result.metrics or {}).get(names.RAY_TRIAL_ID) or Path(str(result.path)).name)


def trials_table(records: Iterable[TrialRecord]) -> pd.DataFrame:
    """One row per trial, ranked: completed first, then by validation accuracy; the search trials
    and the confirmation runs alike (their ``phase`` and ``seed`` columns tell them apart)."""
    rows = []
    for rec in records:
        m, c = rec.metrics, rec.config
        rows.append({
            names.COL_TRIAL: rec.trial,
            names.COL_PHASE: rec.phase,
            names.COL_STATE: end_state(m, rec.error),
            names.REGULARIZER: c.get(names.REGULARIZER, names.NONE),
            names.PLACEMENT: c.get(names.PLACEMENT),
            names.LAMBDA: c.get(names.LAMBDA),
            names.L1_RATIO: c.get(names.L1_RATIO),
            names.SEED: rec.seed,
            names.COL_EPOCHS: int(m.get(names.EPOCH, 0) or 0),
            names.VAL_ACCURACY: m.get(names.VAL_ACCURACY),
            names.TEST_ACCURACY: m.get(names.TEST_ACCURACY),
            names.SPARSITY: m.get(names.SPARSITY),
            names.REMOVABLE: m.get(names.REMOVABLE),
            names.ACTIVATION_SPARSITY: m.get(names.ACTIVATION_SPARSITY),
            names.COL_NODE_IP: m.get(names.COL_NODE_IP),
            names.NODE_ID: m.get(names.NODE_ID),
            **{col: m.get(col) for col in (names.TEST_ACCURACY_PRUNED, *CSV_ONLY)},
            names.SPARED: int(m.get(names.SPARED) or 0),  # after the CSV columns: 0, not empty, when never spared
        })
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    if df.empty:
        return df
    df["_rank"] = df[names.COL_STATE].map(_STATE_RANK)
    df["_acc"] = pd.to_numeric(df[names.VAL_ACCURACY], errors="coerce").fillna(-1.0)
    df = df.sort_values(["_rank", "_acc"], ascending=[True, False], kind="stable")
    return df.drop(columns=["_rank", "_acc"]).reset_index(drop=True)


def best_trial(df: pd.DataFrame) -> Optional[pd.Series]:
    """The top-ranked trial that completed or was stopped early, if any."""
    usable = df[df[names.COL_STATE].isin([names.STATE_COMPLETED, names.STATE_STOPPED])]
    return None if usable.empty else usable.iloc[0]


def epochs_line(table: pd.DataFrame, budget: int = 0) -> str:
    """``290 epochs trained (search 190, confirmation 100; budget 300)``: what the sweep cost."""
    if table.empty:
        return "0 epochs trained"
    epochs = pd.to_numeric(table[names.COL_EPOCHS], errors="coerce").fillna(0)
    by_phase = {phase: int(epochs[table[names.COL_PHASE] == phase].sum())
                for phase in (names.PHASE_SEARCH, names.PHASE_CONFIRM)}
    return (f"{int(epochs.sum())} epochs trained (search {by_phase[names.PHASE_SEARCH]}, confirmation "
            f"{by_phase[names.PHASE_CONFIRM]}" + (f"; budget {budget}" if budget else "") + ")")


def best_config(row: pd.Series) -> dict[str, Any]:
    """The contract params of a row, without the ones its regularizer does not use."""
    config: dict[str, Any] = {names.REGULARIZER: row[names.REGULARIZER]}
    for key in (names.PLACEMENT, names.LAMBDA, names.L1_RATIO):
        value = row[key]
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            config[key] = value
    return config


def lambda_edge_note(row: pd.Series, search: SearchConfig) -> Optional[str]:
    """A warning when the best λ lies in the outer EDGE_FRACTION of the log range."""
    lam = row.get(names.LAMBDA)
    if row.get(names.REGULARIZER) == names.NONE or lam is None or pd.isna(lam):
        return None
    lo, hi = math.log10(search.lambda_low), math.log10(search.lambda_high)
    position = (math.log10(float(lam)) - lo) / (hi - lo)
    if position <= EDGE_FRACTION:
        return (f"best lambda {float(lam):.3g} sits at the LOW edge of the searched range "
                f"[{search.lambda_low:g}, {search.lambda_high:g}]: lower search.lambda_low and sweep again")
    if position >= 1 - EDGE_FRACTION:
        return (f"best lambda {float(lam):.3g} sits at the HIGH edge of the searched range "
                f"[{search.lambda_low:g}, {search.lambda_high:g}]: raise search.lambda_high and sweep again")
    return None


#: Columns the terminal shows only with --verbose (they stay in the CSV): the table fits 120 columns.
WIDE_ONLY = (names.REMOVABLE, names.TEST_ACCURACY_PRUNED, names.ACTIVATION_SPARSITY, names.COL_NODE_IP, names.NODE_ID)
#: Shorter headers of the terminal table (the CSV and MLflow keep the metric names).
SHORT_HEADERS = {names.VAL_ACCURACY: "val_acc", names.TEST_ACCURACY: "test_acc"}
#: The widest terminal table without --verbose.
TABLE_WIDTH = 120


def render_table(df: pd.DataFrame, wide: bool = False) -> str:
    """A fixed-width text table for the terminal; ``wide`` adds the pruned accuracy, the activation
    sparsity and the node."""
    if df.empty:
        return "(no trials)"
    hidden = CSV_ONLY + (() if wide else WIDE_ONLY)
    shown = df.drop(columns=[c for c in hidden if c in df.columns])
    formats: dict[str, Any] = {
        **{col: "{:.4f}" for col in (names.VAL_ACCURACY, names.TEST_ACCURACY, names.SPARSITY, names.REMOVABLE,
                                     names.TEST_ACCURACY_PRUNED, names.ACTIVATION_SPARSITY)},
        names.LAMBDA: "{:.3g}", names.L1_RATIO: "{:.2f}", names.PLACEMENT: "{}", names.COL_NODE_IP: "{}",
        names.SEED: lambda v: str(int(v)),
        names.NODE_ID: lambda v: str(v)[:8],  # enough to tell nodes apart; the CSV has it whole
    }
    for col, fmt in formats.items():
        if col in shown.columns:
            shown[col] = shown[col].map(lambda v, f=fmt: _dash_or(v, f))
    return shown.rename(columns=SHORT_HEADERS).to_string(index=False)


def _dash_or(value: Any, fmt: Any) -> str:
    """``-`` for a missing value, else the value formatted by a format string or a function."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "-"
    if callable(fmt):
        return str(fmt(value))
    return fmt.format(float(value)) if "{:." in fmt else fmt.format(value)


def state_counts(df: pd.DataFrame) -> dict[str, int]:
    """How many trials ended in each state."""
    return {str(k): int(v) for k, v in df[names.COL_STATE].value_counts().items()} if not df.empty else {}


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    """The full table as CSV (numbers unformatted)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    return path
