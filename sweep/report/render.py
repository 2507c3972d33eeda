"""The report on the console: the trials table, the per-config statistics, the answer and the verdict."""

from __future__ import annotations

import json

from sweep.report import ranking, summary
from sweep.report.build import ARTICLE_SECTION, L1_SECTION, PARETO_SECTION, Report
from sweep.report.write import SweepOutcome
from trainables import names


def render_report(report: Report, outcome: SweepOutcome, budget: int, model_line: str, wide: bool = False) -> None:
    """Print the summary (``budget``: the sweep's epoch budget, 0 for none; ``wide``: --verbose, every column)."""
    table = report.table
    print()
    print(f"=== sweep {report.name}: {len(table)} trials "
          f"({', '.join(f'{v} {k}' for k, v in summary.state_counts(table).items())}), "
          f"{summary.epochs_line(table, budget)} ===")
    print(summary.render_table(table, wide))
    print(f"\n{model_line}")
    print("\nper config (completed trials; mean ± sd over seeds):")
    print(ranking.render_stats(report.stats))
    if report.best is not None:
        n = report.best_extra["n_seeds"]
        figures = (f"test_accuracy {report.best_metrics[names.TEST_ACCURACY]:.4f}, mean over {n} confirmation "
                   f"seed{'s' if n != 1 else ''}" if report.best_extra.get("chosen_on") == "confirmation" else
                   f"{names.OBJECTIVE} {report.best_metrics[names.OBJECTIVE]:.4f}, {n} seed(s): the search's best, "
                   "not confirmed")
        print(f"\nbest config: {json.dumps(report.best)}  ({figures})")
    else:
        print("\nno trial produced a usable result")
    print(f"\n{report.sections[PARETO_SECTION]}")
    if L1_SECTION in report.sections:
        print(f"\n{report.sections[L1_SECTION]}")
    print(f"\n{report.rule_line}")
    if ARTICLE_SECTION in report.sections:
        print(f"\n{report.sections[ARTICLE_SECTION]}")
    print(f"\nverdict: {report.verdict.text()}")
    if report.edge_note:
        print(f"WARNING: {report.edge_note}")
    print(f"results: {outcome.output_dir}/ ({', '.join(p.name for p in outcome.files)})")
