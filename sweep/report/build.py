"""The sweep's answer, computed and nothing else: the trials table, the per-config statistics, the
recommendation, the verdict and the accuracy/sparsity front. Pure: ``write`` puts it in files and
MLflow, ``render`` on the console."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import pandas as pd

from sweep.config.schema import SearchConfig, SweepConfig
from sweep.report import ranking, summary
from sweep.report.article import comparison as compare_with_article
from sweep.report.html_report import asha_rungs
from sweep.report.l1_claim import l1_answer
from sweep.report.l1_claim import render as render_l1
from sweep.report.pareto import ParetoAnswer, pareto_answer
from sweep.report.pareto import render as render_pareto
from sweep.report.verdict import Verdict, make_verdict
from sweep.stats.sequential import Claim
from sweep.common.labels import describe
from sweep.search.priors import DataProfile, rule_outcome
from trainables import names
from trainables.choices import Scheduler

#: Figures of the best trial written to best_config.json and logged on the parent run as best_<name>.
BEST_METRICS = (names.VAL_ACCURACY, names.TEST_ACCURACY, names.SPARSITY)
#: Verdict sections, in order (verdict.md and the console).
PARETO_SECTION = "Accuracy and sparsity"
L1_SECTION = "Does L1 give removable weights?"
RULE_SECTION = "The article's rule of thumb"
ARTICLE_SECTION = "Beside the article"


@dataclass
class Report:
    """Everything the summary says, before it is written anywhere."""

    name: str
    dataset: str
    table: pd.DataFrame
    """One row per trial (search and confirmation)."""
    stats: pd.DataFrame
    """One row per config: seeds, mean and sd of validation and test accuracy."""
    verdict: Verdict
    best: Optional[dict[str, Any]]
    """The recommended config (or, when nothing completed, the best trial that trained at all)."""
    best_metrics: dict[str, float] = field(default_factory=dict)
    best_extra: dict[str, Any] = field(default_factory=dict)
    """Seeds and spreads of the recommendation, for best_config.json."""
    edge_note: Optional[str] = None
    pareto: Optional[ParetoAnswer] = None
    sections: dict[str, str] = field(default_factory=dict)
    """Verdict sections by title: the front, the rule of thumb, the article (when it applies)."""
    rule_line: str = ""
    pruned_trials: list[str] = field(default_factory=list)
    """Trials whose pruning curve is drawn: the best completed one, the front, the compressible model."""
    curves: dict[str, list[float]] = field(default_factory=dict)
    """Validation accuracy per epoch, by trial."""
    rungs: list[int] = field(default_factory=list)
    """ASHA's rungs (epochs), none for FIFO."""
    run_links: dict[str, str] = field(default_factory=dict)
    """Trial id -> its child run's page in the MLflow UI (report.html links the trials table to them)."""


def build_report(cfg: SweepConfig, name: str, dataset: str, n_val: int, records: list[summary.TrialRecord],
                 profile: DataProfile, notes: list[str], claims: Optional[Mapping[str, Claim]] = None,
                 run_links: Optional[Mapping[str, str]] = None) -> Report:
    """Rank the configs, choose the answer and say how much to trust it. With confirmation, the answer
    comes from its seeds alone (``ranking.confirmed_choice``), and ``claims`` (the race's standing of each
    candidate) decide "helped"; without, the search's validation ranking chooses and nothing is claimed."""
    table = summary.trials_table(records)
    stats = ranking.config_stats(table)
    rec_row, best_penalized, confirmed = choose_answer(table, stats, n_val, cfg.search)
    verdict = make_verdict(table, confirmed.stats if confirmed is not None else stats, rec_row, best_penalized,
                           cfg.search, claims=claims, notes=notes, confirmed=confirmed is not None)
    if rec_row is not None:
        best: Optional[dict[str, Any]] = summary.best_config(rec_row)
        best_metrics = {names.VAL_ACCURACY: float(rec_row["val_mean"]),
                        names.TEST_ACCURACY: float(rec_row["test_mean"]),
                        names.SPARSITY: float(rec_row[names.SPARSITY])}
        extra = {"n_seeds": int(rec_row["n_seeds"]), "val_accuracy_sd": _nan_none(rec_row["val_sd"]),
                 "test_accuracy_sd": _nan_none(rec_row["test_sd"]),
                 "chosen_on": "confirmation" if confirmed is not None else "search"}
    else:  # nothing completed: fall back to the best trial that trained at all
        row = summary.best_trial(table)
        best = summary.best_config(row) if row is not None else None
        best_metrics = {key: _num(row, key) for key in BEST_METRICS} if row is not None else {}
        extra = {"n_seeds": 1 if row is not None else 0}
    note = summary.lambda_edge_note(pd.Series(best), cfg.search) if best else None
    answer = pareto_answer(table, cfg.search.accuracy_tolerance)
    penalized_best = best_penalized[names.REGULARIZER] if best_penalized is not None else None
    rule = rule_outcome(profile, penalized_best, verdict.helped)
    sections = {PARETO_SECTION: render_pareto(answer, _describe_row)}
    claim = l1_answer(table, cfg.search.accuracy_tolerance)
    if claim is not None:
        sections[L1_SECTION] = render_l1(claim, _describe_row)
    sections[RULE_SECTION] = f"{profile.line()}.\n{rule}"
    article = compare_with_article(stats, dataset)
    if article:
        sections[ARTICLE_SECTION] = article
    top = summary.best_trial(table[table[names.COL_STATE] == names.STATE_COMPLETED]) if not table.empty else None
    pruned = list(dict.fromkeys(([str(top[names.COL_TRIAL])] if top is not None else []) + answer.trials
                                + ([str(answer.compressible[names.COL_TRIAL])] if answer.compressible is not None
                                   else [])))
    rungs = (asha_rungs(cfg.scheduler.grace_period, cfg.scheduler.reduction_factor, cfg.train.epochs)
             if cfg.scheduler.name == Scheduler.asha else [])
    return Report(name=name, dataset=dataset, table=table, stats=stats, verdict=verdict, best=best,
                  best_metrics=best_metrics, best_extra=extra, edge_note=note, pareto=answer, sections=sections,
                  rule_line=rule, pruned_trials=pruned, curves={r.trial: list(r.curve) for r in records}, rungs=rungs,
                  run_links=dict(run_links or {}))


def choose_answer(table: pd.DataFrame, stats: pd.DataFrame, n_val: int, search: SearchConfig
                  ) -> tuple[Optional[pd.Series], Optional[pd.Series], Optional[ranking.ConfirmedChoice]]:
    """The recommendation and the best penalty: from the confirmation seeds alone where confirmation
    paired a penalty with the baseline; otherwise (no confirmation ran) the search's validation ranking,
    which the verdict then says claims nothing."""
    confirmed = ranking.confirmed_choice(table, search.confidence)
    if confirmed is not None:
        return confirmed.recommended, confirmed.best_penalized, confirmed
    rec_row, best_penalized = ranking.choose(stats, n_val, search.confirm_seeds, table, search.confidence)
    return rec_row, best_penalized, None


def _describe_row(row: pd.Series) -> str:
    return f"{row[names.COL_TRIAL]} {describe(row)}"


def _nan_none(value: Any) -> Optional[float]:
    return None if value is None or pd.isna(value) else float(value)


def _num(row: Any, key: str) -> float:
    value = row.get(key) if row is not None else None
    return float("nan") if value is None or pd.isna(value) else float(value)
