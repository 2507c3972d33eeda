"""The report on disk: results.csv, best_config.json, verdict.md, the Pareto front and the plots."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pandas as pd

from sweep.report import summary
from sweep.report.build import Report
from sweep.report.pareto import ParetoAnswer, write_front
from sweep.report.html_report import write_html
from sweep.report.plots import write_plots
from sweep.report.verdict import VERDICT_FILE, Verdict

RESULTS_CSV = "results.csv"
BEST_CONFIG = "best_config.json"


@dataclass
class SweepOutcome:
    """What a finished sweep produced."""

    name: str
    table: pd.DataFrame
    best: Optional[dict[str, Any]]
    edge_note: Optional[str]
    output_dir: Path
    best_metrics: dict[str, float] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    verdict: Optional[Verdict] = None
    stats: Optional[pd.DataFrame] = None
    """One row per config: seeds, mean and sd of validation and test accuracy."""
    pareto: Optional[ParetoAnswer] = None


def write_report(report: Report, out_dir: Path) -> SweepOutcome:
    """Write every file of the report into ``out_dir``; the outcome lists them."""
    files = [summary.write_csv(report.table, out_dir / RESULTS_CSV)]
    if report.best is not None:
        payload = {"sweep": report.name, "dataset": report.dataset, "config": report.best, **report.best_metrics,
                   **report.best_extra, "verdict": report.verdict.headline, **report.verdict.gain_fields(),
                   "edge_note": report.edge_note}
        (out_dir / BEST_CONFIG).write_text(json.dumps(payload, indent=2))
        files.append(out_dir / BEST_CONFIG)
    (out_dir / VERDICT_FILE).write_text(report.verdict.markdown(report.name, report.sections))
    files.append(out_dir / VERDICT_FILE)
    if report.pareto is not None and not report.pareto.front.empty:
        files.append(write_front(report.pareto, out_dir))
    files.extend(write_plots(report.table, out_dir, report.pruned_trials))
    files.append(write_html(out_dir, report.name, report.verdict.markdown(report.name, report.sections), report.table,
                            report.curves, report.rungs, report.pareto.trials if report.pareto is not None else [],
                            report.pruned_trials, report.run_links))
    return SweepOutcome(name=report.name, table=report.table, best=report.best, edge_note=report.edge_note,
                        output_dir=out_dir, files=files, best_metrics=report.best_metrics, verdict=report.verdict,
                        stats=report.stats, pareto=report.pareto)
