"""Summary plots (PNG): validation accuracy and sparsity against λ, and the accuracy/sparsity front.

One series per regularizer x placement, λ on a log axis, drawn through the mean of each λ's
completed seeds (confirmation runs add points at the same λ, so their spread shows). Hollow markers
are trials that did not train the full budget (stopped early or diverged) and crosses are trials that
collapsed to chance accuracy, so none of them is read as an equal of a completed one. The Pareto
front marks the trials no other trial beats on both test accuracy and sparsity.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from sweep.report.pareto import pareto_front, sparsity_axis
from trainables import names
from trainables.metrics.pruning import PRUNE_THRESHOLDS

VAL_VS_LAMBDA = "val_accuracy_vs_lambda.png"
SPARSITY_VS_LAMBDA = "sparsity_vs_lambda.png"
PARETO = "accuracy_vs_sparsity_pareto.png"
PRUNING = "pruning_curve.png"


def _series_label(row: pd.Series) -> str:
    if row[names.REGULARIZER] == names.NONE:
        return names.NONE
    return f"{row[names.REGULARIZER]} / {row[names.PLACEMENT]}"


def _lambda_plot(df: pd.DataFrame, metric: str, title: str, path: Path) -> Path:
    fig = _figure()
    ax = fig.subplots()
    data = df.copy()
    data["series"] = data.apply(_series_label, axis=1)
    data[metric] = pd.to_numeric(data[metric], errors="coerce")
    for label, group in sorted(data.groupby("series"), key=lambda kv: kv[0]):
        if label == names.NONE:
            for value in group[metric].dropna():
                ax.axhline(value, color="grey", linestyle="--", linewidth=1)
            ax.plot([], [], color="grey", linestyle="--", label="none (baseline)")
            continue
        g = group.dropna(subset=[metric, names.LAMBDA]).sort_values(names.LAMBDA)
        state = g[names.COL_STATE]
        done = g[state == names.STATE_COMPLETED]
        means = done.groupby(done[names.LAMBDA].astype(float))[metric].mean()
        (line,) = ax.plot(means.index, means.to_numpy(), marker="o", label=label)
        ax.plot(done[names.LAMBDA].astype(float), done[metric], linestyle="none", marker=".",
                color=line.get_color())
        early = g[state.isin([names.STATE_STOPPED, names.STATE_DIVERGED])]
        ax.plot(early[names.LAMBDA].astype(float), early[metric], linestyle="none", marker="o",
                color=line.get_color(), markerfacecolor="white", markeredgecolor=line.get_color())
        collapsed = g[state == names.STATE_COLLAPSED]
        ax.plot(collapsed[names.LAMBDA].astype(float), collapsed[metric], linestyle="none", marker="x",
                color=line.get_color(), markersize=8)
    ax.plot([], [], linestyle="none", marker="o", markerfacecolor="white", markeredgecolor="black",
            label="hollow: stopped early / diverged (fewer epochs)")
    ax.plot([], [], linestyle="none", marker="x", color="black", label="x: collapsed to chance accuracy")
    ax.set_xscale("log")
    return _finish(fig, ax, "lambda (log scale)", metric, title, path)


def _pareto_plot(df: pd.DataFrame, path: Path) -> Path:
    x, y = sparsity_axis(df), names.TEST_ACCURACY
    data = df.copy()
    data[[x, y]] = data[[x, y]].apply(pd.to_numeric, errors="coerce")
    data = data.dropna(subset=[x, y])
    fig = _figure()
    ax = fig.subplots()
    for label, group in sorted(data.assign(series=data.apply(_series_label, axis=1)).groupby("series")):
        ax.scatter(group[x], group[y], label=label, s=30)
    if not data.empty:
        front = pareto_front(data, x, y)
        ax.plot(front[x], front[y], color="black", linewidth=1.5, marker="*", markersize=10,
                label="Pareto front")
    return _finish(fig, ax, "weight sparsity (fraction of |w| < threshold)", "test accuracy",
                   "Accuracy / sparsity trade-off (completed trials)", path)


def _pruning_plot(df: pd.DataFrame, trials: list[str], path: Path) -> Path:
    """Test accuracy against the fraction of kernel weights removed (|w| below each threshold set to 0),
    one line per trial: a penalty whose sparsity is real keeps its accuracy further to the right."""
    fig = _figure()
    ax = fig.subplots()
    rows = df[df[names.COL_TRIAL].astype(str).isin(trials)]
    for _, row in rows.iterrows():
        points = pruning_points(row)
        if not points:
            continue
        (line,) = ax.plot([p[1] for p in points], [p[2] for p in points], marker="o", label=_trial_label(row))
        for t, x, y in points:  # each point keeps its own threshold, also when another one is missing
            ax.annotate(f"{t:g}", (x, y), textcoords="offset points", xytext=(3, 3), fontsize=6,
                        color=line.get_color())
    return _finish(fig, ax, "fraction of kernel weights removed (|w| < threshold, thresholds annotated)",
                   "test accuracy after removal", "Is the sparsity real? Pruning the best and the Pareto-optimal "
                   "trials", path, legend_size=7, legend_loc="lower left")


def pruning_points(row: pd.Series) -> list[tuple[float, float, float]]:
    """A trial's pruning curve: (threshold, fraction of weights removed, test accuracy) for each
    threshold that has both figures (a missing one is skipped, the others keep their threshold)."""
    points = [(t, row.get(names.pruning_metric(names.PRUNING_REMOVED, t)),
               row.get(names.pruning_metric(names.PRUNING_ACCURACY, t))) for t in PRUNE_THRESHOLDS]
    return [(t, float(x), float(y)) for t, x, y in points if not pd.isna(x) and not pd.isna(y)]


def _trial_label(row: pd.Series) -> str:
    if row[names.REGULARIZER] == names.NONE:
        return f"none ({row[names.COL_TRIAL]})"
    lam = row.get(names.LAMBDA)
    return f"{row[names.REGULARIZER]} / {row[names.PLACEMENT]}, λ={float(lam):.3g} ({row[names.COL_TRIAL]})"


def _finish(fig: Any, ax: Any, xlabel: str, ylabel: str, title: str, path: Path, legend_size: int = 8,
            legend_loc: str = "best") -> Path:
    """Labels, grid and legend, then the PNG: how every summary plot ends."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # an empty plot (no trial completed) has nothing to name
        ax.legend(fontsize=legend_size, loc=legend_loc)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _figure() -> Any:
    """A figure outside pyplot: no global backend switch (which imports IPython when anything has
    started to, and so raced the MLflow writer thread's imports) and nothing left open."""
    from matplotlib.figure import Figure

    return Figure(figsize=(8, 5))


def settle_canvas() -> None:
    """Create (and drop) one Agg canvas before any other thread imports IPython. A canvas class
    checks ``sys.modules`` for IPython the first time one is created (matplotlib caches the check
    per class). Run while the MLflow writer thread was half-way through importing IPython (model
    logging imports it), the check raised AttributeError on the partially initialized module, and
    the sweep died at its summary. Called once, early, the check finds no IPython and never runs again."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    FigureCanvasAgg(Figure())


def write_plots(df: pd.DataFrame, out_dir: Path, pruned_trials: Sequence[str] = ()) -> list[Path]:
    """Write the summary plots into ``out_dir`` and return their paths; the pruning curve is drawn for
    ``pruned_trials`` (the best and the Pareto-optimal ones) when there are any."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [
        _lambda_plot(df, names.VAL_ACCURACY, "Validation accuracy vs lambda", out_dir / VAL_VS_LAMBDA),
        _lambda_plot(df, names.SPARSITY, "Weight sparsity vs lambda", out_dir / SPARSITY_VS_LAMBDA),
        _pareto_plot(df, out_dir / PARETO),
    ]
    if pruned_trials:
        paths.append(_pruning_plot(df, list(pruned_trials), out_dir / PRUNING))
    return paths
