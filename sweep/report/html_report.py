"""``report.html``: one self-contained page per sweep, for a browser (and MLflow's artifact viewer).

Plotly draws it; Optuna's own ``optuna.visualization`` draws the parameter importance, from a study
rebuilt out of the trials table (the live study is Ray's searcher state and holds search trials only). The page embeds plotly.js once, so it opens offline. The PNGs stay beside it.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from sweep.report.pareto import sparsity_axis
from sweep.report.plots import pruning_points
from sweep.common.labels import config_label
from sweep.report import html_tables
from trainables import names

REPORT_HTML = "report.html"
#: Colour per regularizer, the same in every chart of the page.
COLOURS = {names.NONE: "#636efa", names.L1: "#ef553b", names.L2: "#00cc96", names.ELASTIC_NET: "#ab63fa"}
#: The params whose importance is measured: present in every penalized trial (``l1_ratio`` is elastic
#: net's alone, and the baseline has neither placement nor λ).
IMPORTANCE_PARAMS = (names.REGULARIZER, names.PLACEMENT, names.LAMBDA)


def asha_rungs(grace_period: int, reduction_factor: int, max_t: int) -> list[int]:
    """The epochs where ASHA compares trials (Ray's ``_Bracket``: grace·rf^k up to max_t)."""
    if grace_period >= max_t:
        return []
    count = int(math.log(max_t / grace_period) / math.log(reduction_factor) + 1)
    return [grace_period * reduction_factor ** k for k in range(count) if grace_period * reduction_factor ** k < max_t]


def rebuilt_study(table: pd.DataFrame, objective: str = names.VAL_ACCURACY) -> Any:
    """An in-memory Optuna study of the completed penalized search trials over ``IMPORTANCE_PARAMS``,
    value = ``objective``: what Optuna's importance evaluators read."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    rows = table[(table[names.COL_STATE] == names.STATE_COMPLETED) & (table[names.REGULARIZER] != names.NONE)
                 & table[objective].notna() & (table[names.COL_PHASE] == names.PHASE_SEARCH)]
    quiet = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created" line on the console
    try:
        study = optuna.create_study(direction="maximize")
    finally:
        optuna.logging.set_verbosity(quiet)
    if rows.empty:
        return study
    lams = rows[names.LAMBDA].astype(float)
    dists = {
        names.REGULARIZER: CategoricalDistribution(sorted(set(rows[names.REGULARIZER]))),
        names.PLACEMENT: CategoricalDistribution(sorted(set(rows[names.PLACEMENT]))),
        names.LAMBDA: FloatDistribution(float(lams.min()), float(lams.max()) * (1 + 1e-9), log=True),
    }
    for _, row in rows.iterrows():
        params = {key: float(row[key]) if key == names.LAMBDA else row[key] for key in IMPORTANCE_PARAMS}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=float(row[objective])))
    return study


#: Completed penalized trials below which the importance chart is a hint only: with a handful of trials
#: one lucky λ makes "lambda 1.00" (the quick example drew it from 5).
MIN_IMPORTANCE_TRIALS = 20


def importance_title(evaluator_name: str, n_trials: int) -> str:
    """The importance chart's title: what it rests on, and below ``MIN_IMPORTANCE_TRIALS`` that it is a hint."""
    title = (f"Which of regularizer, placement and λ explains val_accuracy ({evaluator_name}, {n_trials} completed "
             "penalized search trials)")
    if n_trials < MIN_IMPORTANCE_TRIALS:
        title += f"<br>a hint only: fewer than {MIN_IMPORTANCE_TRIALS} trials, so one lucky trial can decide it"
    return title


def importances(study: Any) -> tuple[dict[str, float], Any, str]:
    """Parameter importance with Optuna's PED-ANOVA (fANOVA when PED-ANOVA cannot, e.g. on too few
    trials); returns the importances, the evaluator that gave them and its name, or ({}, None, why not)."""
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator

    if len(study.trials) < 4:
        return {}, None, f"too few completed penalized trials ({len(study.trials)}; 4 or more needed)"
    for evaluator in (PedAnovaImportanceEvaluator(), FanovaImportanceEvaluator(seed=0)):
        try:
            found = optuna.importance.get_param_importances(study, evaluator=evaluator)
        except (RuntimeError, ValueError, ZeroDivisionError):
            continue
        if found and all(math.isfinite(v) for v in found.values()):
            return dict(found), evaluator, type(evaluator).__name__.removesuffix("ImportanceEvaluator")
    return {}, None, "neither PED-ANOVA nor fANOVA could rank the params on these trials"


def parallel_chart(table: pd.DataFrame) -> Any:
    """Regularizer, placement, λ and l1_ratio against val_accuracy and sparsity, one line per completed
    trial, the baseline included. Drawn with plotly's ``Parcoords`` rather than Optuna's chart, which
    drops trials that lack a param (the baseline has no λ, only elastic net has an l1_ratio)."""
    import plotly.graph_objects as go

    done = table[(table[names.COL_STATE] == names.STATE_COMPLETED) & table[names.VAL_ACCURACY].notna()]
    if done.empty:
        return None

    def categorical(column: str, label: str) -> dict[str, Any]:
        values = done[column].fillna("-").astype(str)
        levels = sorted(set(values))
        return {"label": label, "values": [levels.index(v) for v in values], "tickvals": list(range(len(levels))),
                "ticktext": levels}

    def numeric(values: pd.Series, label: str, missing: str, fmt: str) -> dict[str, Any]:
        known = values.dropna()
        low = float(known.min()) if not known.empty else 0.0
        high = float(known.max()) if not known.empty else 1.0
        floor = low - max(high - low, 1.0) * 0.25  # where a missing value is drawn, labelled
        ticks = [floor] + ([low, high] if high > low else [low])
        return {"label": label, "values": values.fillna(floor).tolist(), "tickvals": ticks,
                "ticktext": [missing] + [format(v if fmt != "e" else 10 ** v, ".2g") for v in ticks[1:]]}

    dims = [categorical(names.REGULARIZER, names.REGULARIZER), categorical(names.PLACEMENT, names.PLACEMENT),
            numeric(np.log10(done[names.LAMBDA].astype(float)), "λ (log)", "none", "e"),
            numeric(done.get(names.L1_RATIO, pd.Series(np.nan, index=done.index)).astype(float), names.L1_RATIO,
                    "n/a", "g"),
            {"label": names.VAL_ACCURACY, "values": done[names.VAL_ACCURACY].astype(float).tolist()},
            {"label": names.SPARSITY, "values": done[names.SPARSITY].astype(float).fillna(0).tolist()}]
    fig = go.Figure(go.Parcoords(line={"color": done[names.VAL_ACCURACY].astype(float), "colorscale": "Viridis",
                                       "showscale": True}, dimensions=dims))
    fig.update_layout(title=f"Regularizer, placement, λ and l1_ratio against accuracy and sparsity "
                            f"({len(done)} completed trials)")
    return fig


def learning_curves(table: pd.DataFrame, curves: Mapping[str, Sequence[float]], rungs: Sequence[int]) -> Any:
    """Every trial's per-epoch val_accuracy, coloured by regularizer; a stopped trial ends in a hollow
    circle, a collapsed one in a cross; ASHA's rungs are dotted lines."""
    import plotly.graph_objects as go

    fig = go.Figure()
    shown: set[str] = set()
    for _, row in table.iterrows():
        curve = list(curves.get(str(row[names.COL_TRIAL]), ()))
        if not curve:
            continue
        reg, state = row[names.REGULARIZER], row[names.COL_STATE]
        symbol = {names.STATE_STOPPED: "circle-open", names.STATE_COLLAPSED: "x"}.get(state, "circle")
        epochs = list(range(1, len(curve) + 1))
        fig.add_trace(go.Scatter(
            x=epochs, y=curve, mode="lines+markers", name=reg, legendgroup=reg, showlegend=reg not in shown,
            line={"color": COLOURS.get(reg, "#888"), "width": 1.5},
            marker={"symbol": ["circle"] * (len(curve) - 1) + [symbol], "size": [3] * (len(curve) - 1) + [9],
                    "color": COLOURS.get(reg, "#888")},
            hovertext=f"{_label(row)} · {row[names.COL_PHASE]} · {state}", hoverinfo="text+x+y"))
        shown.add(reg)
    for rung in rungs:
        fig.add_vline(x=rung, line_dash="dot", line_color="#999", annotation_text=f"ASHA rung {rung}")
    fig.update_layout(title="Learning curves: validation accuracy per epoch (○ stopped early, × collapsed)",
                      xaxis_title="epoch", yaxis_title=names.VAL_ACCURACY)
    return fig


def best_so_far(table: pd.DataFrame, order: Sequence[str]) -> Any:
    """The best completed validation accuracy so far against the epochs trained so far, in the order
    the search trials were created (``order``: trial ids, as Ray's results list them; the table itself
    is ranked best first): what each extra epoch of search bought."""
    import plotly.graph_objects as go

    created = {trial: i for i, trial in enumerate(order)}
    rows = table[table[names.COL_PHASE] == names.PHASE_SEARCH]
    position = rows[names.COL_TRIAL].astype(str).map(created).fillna(len(created)).to_numpy()  # unknown ids last
    rows = rows.iloc[position.argsort(kind="stable")]
    spent, best, xs, ys = 0, float("nan"), [], []
    for _, row in rows.iterrows():
        spent += int(row[names.COL_EPOCHS]) if pd.notna(row[names.COL_EPOCHS]) else 0
        value = row[names.VAL_ACCURACY]
        if row[names.COL_STATE] == names.STATE_COMPLETED and pd.notna(value):
            best = float(value) if math.isnan(best) else max(best, float(value))
        xs.append(spent)
        ys.append(best)
    fig = go.Figure(go.Scatter(x=xs, y=ys, mode="lines+markers", line_shape="hv", name="best so far"))
    known = [y for y in ys if not math.isnan(y)]
    if known:  # plotly pads a flat line by ±1: keep the axis on the accuracies
        fig.update_yaxes(range=[min(known) - 0.02, max(known) + 0.02])
    fig.update_layout(title="Best completed val_accuracy against epochs trained (search trials, in order)",
                      xaxis_title="epochs trained so far", yaxis_title=f"best {names.VAL_ACCURACY}")
    return fig


def front_chart(table: pd.DataFrame, front_trials: Sequence[str]) -> Any:
    """Test accuracy against weight sparsity for every completed trial, the Pareto front joined."""
    import plotly.graph_objects as go

    done = table[(table[names.COL_STATE] == names.STATE_COMPLETED) & table[names.TEST_ACCURACY].notna()]
    axis = sparsity_axis(done)
    fig = go.Figure()
    for reg, rows in done.groupby(names.REGULARIZER):
        fig.add_trace(go.Scatter(x=rows[axis], y=rows[names.TEST_ACCURACY], mode="markers", name=reg,
                                 marker={"color": COLOURS.get(reg, "#888"), "size": 9},
                                 hovertext=[_label(r) for _, r in rows.iterrows()], hoverinfo="text+x+y"))
    front = done[done[names.COL_TRIAL].astype(str).isin(front_trials)].sort_values(axis)
    if not front.empty:
        fig.add_trace(go.Scatter(x=front[axis], y=front[names.TEST_ACCURACY], mode="lines",
                                 name="Pareto front", line={"color": "black", "dash": "dash"}))
    fig.update_layout(title="Accuracy and sparsity: completed trials and the Pareto front",
                      xaxis_title=axis, yaxis_title=names.TEST_ACCURACY)
    return fig


def pruning_chart(table: pd.DataFrame, trials: Sequence[str]) -> Any:
    """Test accuracy against the fraction of weights removed at each threshold, for the given trials."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for _, row in table[table[names.COL_TRIAL].astype(str).isin(trials)].iterrows():
        points = pruning_points(row)
        if points:
            fig.add_trace(go.Scatter(x=[p[1] for p in points], y=[p[2] for p in points], mode="lines+markers+text",
                                     text=[f"{p[0]:g}" for p in points], textposition="top right",
                                     name=_label(row), line={"color": COLOURS.get(row[names.REGULARIZER], "#888")}))
    fig.update_layout(title="Is the sparsity real? Test accuracy as |w| below each threshold is set to 0",
                      xaxis_title="fraction of kernel weights removed", yaxis_title="test accuracy after removal")
    return fig


def write_html(out_dir: Path, name: str, verdict_markdown: str, table: pd.DataFrame,
               curves: Mapping[str, Sequence[float]], rungs: Sequence[int], front_trials: Sequence[str],
               pruned_trials: Sequence[str], run_links: Optional[Mapping[str, str]] = None) -> Path:
    """Write ``report.html`` into ``out_dir`` and return its path. ``verdict_markdown`` is verdict.md's
    text: its sections include the comparison with the article when ``preset=article`` applies;
    ``curves``: each trial's validation curve, keyed in the order the trials were created;
    ``run_links``: trial id -> its MLflow run's page, linked from the trials table."""
    import optuna.visualization as ov

    study = rebuilt_study(table)
    found, evaluator, evaluator_name = importances(study)
    parts: list[tuple[str, Any]] = [("", parallel_chart(table))]
    if found:
        fig = ov.plot_param_importances(study, evaluator=evaluator, target_name=names.VAL_ACCURACY)
        fig.update_layout(title=importance_title(evaluator_name, len(study.trials)))
        parts.append(("", fig))
    else:
        parts.append((f"<p class='note'>Parameter importance: not shown ({html.escape(evaluator_name)}).</p>", None))
    parts += [("", learning_curves(table, curves, rungs)), ("", best_so_far(table, list(curves))),
              ("", front_chart(table, front_trials))]
    if pruned_trials:
        parts.append(("", pruning_chart(table, pruned_trials)))
    # the verdict's own "Verdict of sweep <name>" is the page's one title
    body = [f"<p class='note'>regsweep report of sweep {html.escape(name)}</p>", "<section class='verdict'>",
            html_tables.verdict_html(verdict_markdown), "</section>",
            "<h2>Configs</h2>", "<p class='note'>Completed trials of each config, mean ± sd over its seeds; click a "
            "column to sort.</p>", html_tables.configs_table_html(table),
            "<h2>Trials</h2>", "<p class='note'>Every trial, search and confirmation, as results.csv holds it"
            + ("; a trial's id opens its run in the MLflow UI" if run_links else "") + ".</p>",
            html_tables.trials_table_html(table, run_links), "<h2>Charts</h2>"]
    first = True
    for text, fig in parts:
        if text:
            body.append(text)
        if fig is not None:
            body.append(fig.to_html(full_html=False, include_plotlyjs=first, config={"responsive": True}))
            first = False
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>regsweep: " + html.escape(name) + "</title>"
            "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}pre{white-space:pre-wrap;"
            "background:#f6f6f6;padding:1em}.note{color:#666}" + html_tables.STYLE + "</style></head><body>"
            + "\n".join(body) + html_tables.SORT_SCRIPT + "</body></html>")
    path = out_dir / REPORT_HTML
    path.write_text(page, encoding="utf-8")
    return path


def _label(row: pd.Series) -> str:
    """The config as the console and the per-config table name it, then the trial id."""
    return f"{config_label(row)} · {row[names.COL_TRIAL]}"
