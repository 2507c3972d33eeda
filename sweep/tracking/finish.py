"""The MLflow side of a sweep's two endings: the summary logged on the parent run when it finishes,
and the records kept for a resume when it stops early."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from sweep.config.schema import SweepConfig
from sweep.report.write import SweepOutcome
from sweep.common.say import say
from sweep.tracking import store as tracking
from sweep.tracking.records import TrackingInfo
from sweep.tracking.trial_runs import TrialRunWriter
from sweep.tracking.tune_callback import unregister
from trainables import names
from trainables.errors import SummaryNotLogged

#: MLflow records the driver could not deliver before it stopped; a resume sends them first.
PENDING_FILE = ".mlflow-pending.jsonl"
#: Where an earlier version kept them, as a pickle: never read (a pickle from shared storage runs code).
OLD_PENDING_FILE = ".mlflow-pending.pkl"


def log_summary(cfg: SweepConfig, info: TrackingInfo, writer: TrialRunWriter, outcome: SweepOutcome,
                out_dir: Path) -> None:
    """Deliver what the trials' records still wait for, then the summary on the parent run. Any
    failure here ends the parent run FAILED and is one line (exit 1): the results are on disk."""
    try:
        left = writer.stop(cfg.tracking.max_outage_s, keep_in=out_dir / PENDING_FILE)
        if left:
            raise SummaryNotLogged(f"the MLflow server failed for longer than "
                                   f"tracking.max_outage_s={cfg.tracking.max_outage_s:g}s with {left} trial record(s) "
                                   f"still to send; the results are in "
                                   f"{out_dir}/ and the records in {PENDING_FILE} there: once the server is "
                                   f"back, run the same command with resume=true to send them")
        for problem in writer.errors:
            say(f"WARNING: not in MLflow: {problem}")
        if cfg.resume:
            lost = writer.remove_lost_runs({str(t) for t in outcome.table[names.COL_TRIAL]})
            if lost:
                say(f"mlflow: removed {lost} child run(s) of trials the killed launcher had started before Ray "
                     f"saved them (Ray trained them again under new ids; MLflow's deleted view keeps them)")
        if outcome.pareto is not None:
            tracking.tag_child_runs(info, {str(t): "true" for t in outcome.pareto.trials}, names.TAG_PARETO, "false")
        tracking.finish_parent_run(info, outcome.files, outcome.best, outcome.best_metrics,
                                   verdict=outcome.verdict.headline if outcome.verdict else None,
                                   tables=summary_tables(outcome))
    except SummaryNotLogged:
        tracking.end_parent_quietly(info, names.RUN_FAILED)
        raise
    except Exception as exc:  # the results are on disk; say so instead of a traceback
        tracking.end_parent_quietly(info, names.RUN_FAILED)
        raise SummaryNotLogged(f"logging the summary to MLflow failed ({exc.__class__.__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''}); the results are in {out_dir}/") from exc
    finally:
        unregister(writer)


def summary_tables(outcome: SweepOutcome) -> dict[str, Any]:
    """The parent run's tables: every trial, the per-config means ± sd, and the Pareto front (the
    CSVs under ``summary/`` hold the same rows)."""
    tables: dict[str, Any] = {names.TABLE_TRIALS: outcome.table}
    if outcome.stats is not None:
        tables[names.TABLE_CONFIGS] = outcome.stats
    if outcome.pareto is not None:
        tables[names.TABLE_PARETO] = outcome.pareto.front
    return tables


def keep_for_resume(info: Optional[TrackingInfo], writer: Optional[TrialRunWriter], out_dir: Path) -> None:
    """A sweep that stops early (Ctrl-C, a crash): what the writer could not send goes to the pending
    file, and the parent run ends KILLED; ``resume=true`` sends the one and reopens the other."""
    if writer is not None:
        writer.stop(5.0, keep_in=out_dir / PENDING_FILE, limit_s=5.0)
        unregister(writer)
    if info is not None:
        tracking.end_parent_quietly(info, names.RUN_KILLED)


def restore_pending(writer: TrialRunWriter, out_dir: Path) -> None:
    """On resume, queue the records an earlier run could not deliver (never an older version's pickle)."""
    if writer.restore_saved(out_dir / PENDING_FILE):
        say(f"mlflow: sending {len(writer.pending())} record(s) an earlier run could not deliver")
    if (out_dir / OLD_PENDING_FILE).exists():
        say(f"WARNING: {out_dir / OLD_PENDING_FILE} holds records an older regsweep could not deliver, as a "
             "pickle, which is not read (unpickling a shared file can run any code); resume with the older "
             "version to send them, or delete the file")
