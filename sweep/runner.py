"""``run_sweep(cfg)``: the whole sweep as one plain function (the CLI and the tests call it).

The phase order, and nothing else: the session's checks and inputs (``sweep.session``), Ray and the
MLflow writer, the search (``sweep.search.phase``) then the confirmation (``sweep.confirm.rounds``),
and the report: built (``sweep.report.build``), written (``sweep.report.write``), printed
(``sweep.report.render``) and logged (``sweep.tracking.finish``).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from sweep import session
from sweep.fingerprint import results_fingerprint
from sweep.config.schema import SweepConfig
from sweep.confirm.rounds import ConfirmOutcome, run_confirmation
from sweep.report.build import build_report
from sweep.report.plots import settle_canvas
from sweep.report.render import render_report
from sweep.report.summary import records_from_results
from sweep.report.write import SweepOutcome, write_report
from sweep.runtime import cluster
from sweep.common.say import say
from sweep.runtime.console import TUNE_LOG, ConsoleView, close_board, open_board
from sweep.runtime.interrupt import interrupt_guard
from sweep.runtime.timings import (DATA_READY, FINISHED, MLFLOW_READY, RAY_READY, SUMMARY_WRITTEN, TRIALS_DONE,
                                   TIMINGS_FILE, Timeline, TimingRecorder, close_timeline, open_timeline)
from sweep.search import tuner
from sweep.search.phase import budget_note, grid_size, search_tuner
from sweep.session import LOG_DIR, SPACE_FILE, Inputs
from sweep.tracking import store as tracking
from sweep.tracking.finish import keep_for_resume, log_summary, restore_pending
from sweep.tracking.lease import new_holder
from sweep.tracking.lease import take as take_lease
from sweep.tracking.records import TrackingInfo
from sweep.tracking.trial_runs import TrialRunWriter
from sweep.tracking.ui_view import run_url, share_sweep_view, ui_base
from sweep.tracking.tune_callback import TrialRunLogger, register
from trainables import names
from trainables.data.types import model_input

__all__ = ["SweepOutcome", "run_sweep", "grid_size"]


@dataclass
class Trained:
    """What the trial phases produced: Tune's result grids by phase, and what the budget left undone."""

    grids: list[tuple[str, Any]] = field(default_factory=list)
    confirmed: ConfirmOutcome = field(default_factory=ConfirmOutcome)
    notes: list[str] = field(default_factory=list)

    def records(self, seed: int) -> list[Any]:
        return [rec for phase, grid in self.grids for rec in records_from_results(grid, phase, seed)]


def run_sweep(cfg: SweepConfig, launched: Optional[float] = None) -> SweepOutcome:
    """Check everything the user can get wrong, load the data once, run (or resume) the Tune
    sweep, and write the summary. Bad input fails before any server, Ray or trial starts.
    ``launched`` (``time.time()`` at the command's start) anchors the start-up time in timings.json."""
    launched = time.time() if launched is None else launched
    name = cfg.sweep_name()
    out_dir = Path(cfg.output_dir).expanduser().resolve() / name
    space = results_fingerprint(cfg)
    with session.sweep_lock(cfg, name, out_dir):
        session.check_start(cfg, name, out_dir, space)
        inputs = session.prepare_inputs(cfg, out_dir)
        timeline = open_timeline(name, launched)
        timeline.mark(DATA_READY, inputs.data_ready)
        try:
            with ExitStack() as held:
                return _run(cfg, name, out_dir, space, inputs, timeline, held)
        finally:
            close_timeline(timeline)


def _run(cfg: SweepConfig, name: str, out_dir: Path, space: dict[str, Any], inputs: Inputs,
         timeline: Timeline, held: ExitStack) -> SweepOutcome:
    with ThreadPoolExecutor(1, thread_name_prefix="regsweep-mlflow-prepare") as pool:
        preparing = pool.submit(tracking.prepare_store)  # overlaps Ray's start-up
        pool.submit(settle_canvas)  # before the writer thread can import IPython (sweep.report.plots)
        started = cluster.connect(cfg.cluster, session.user_modules(cfg), quiet=not cfg.console.verbose)
        timeline.mark(RAY_READY)
    info: Optional[TrackingInfo] = None
    writer: Optional[TrialRunWriter] = None
    try:
        preparing.result()
        resources, gpus = _resources(cfg)
        holder = new_holder()
        with tracking.store_lock(inputs.uri):  # last step before trials: nothing half-logged
            info = tracking.open_parent_run(inputs.uri, cfg, name, inputs.data,
                                            {**session.model_params(inputs.model), **inputs.profile.params()},
                                            holder=holder)
        held.callback(take_lease(inputs.uri, info.parent_run_id, name, holder).release)
        say(f"mlflow: experiment {cfg.tracking.experiment!r}, parent run {info.parent_run_id} at {inputs.uri}")
        view_url = share_sweep_view(inputs.uri, not cfg.tracking.uri, info.experiment_id, name)
        say(_view_line(cfg, view_url, "watch"))
        timeline.mark(MLFLOW_READY)
        writer = TrialRunWriter(info, example=model_input(inputs.data, inputs.data.x_val[:1]),
                                fresh=not cfg.resume, source=inputs.model.source).start()
        if cfg.resume:
            restore_pending(writer, out_dir)
        else:
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / SPACE_FILE).write_text(json.dumps(space, indent=2))
        trained = _train(cfg, name, out_dir, inputs, writer, resources, gpus)
    except BaseException:
        keep_for_resume(info, writer, out_dir)  # resume=true sends what is left and reopens the parent run
        raise
    finally:
        timeline.mark(TRIALS_DONE)
        cluster.disconnect(started)
    assert info is not None and writer is not None
    report = build_report(cfg, name, inputs.data.name, inputs.data.sizes()["val"], trained.records(cfg.train.seed),
                          inputs.profile, trained.notes + [trained.confirmed.line()],
                          claims=trained.confirmed.race.claims if trained.confirmed.race is not None else None,
                          run_links=_run_links(cfg, inputs.uri, info, writer))
    outcome = write_report(report, out_dir)
    render_report(report, outcome, tuner.budget(cfg), inputs.model.line(), wide=cfg.console.verbose)
    timeline.mark(SUMMARY_WRITTEN)
    log_summary(cfg, info, writer, outcome, out_dir)
    timeline.mark(FINISHED)
    timeline.write(out_dir)
    _closing_lines(cfg, name, timeline, len(outcome.table), info, inputs.uri, view_url)
    return outcome


def _resources(cfg: SweepConfig) -> tuple[dict[str, Any], float]:
    """The cluster's resources and the GPUs per trial, said in one line and checked against a trial."""
    res = cluster.cluster_summary()
    gpus = tuner.resolve_gpus_per_trial(cfg, res["gpus"])
    say(f"ray: {res['nodes']} node(s), {res['cpus']:g} CPUs, {res['gpus']:g} GPUs; "
        f"per trial {cfg.cluster.cpus_per_trial:g} CPU, {gpus:g} GPU")
    cluster.check_trial_fits(res["node_list"], cfg.cluster.cpus_per_trial, gpus)
    return res, gpus


def _train(cfg: SweepConfig, name: str, out_dir: Path, inputs: Inputs, writer: TrialRunWriter,
           resources: dict[str, Any], gpus: float) -> Trained:
    """The search, then the confirmation rounds, under the live board. Ctrl-C: Tune saves its state,
    no confirmation follows, and the launcher exits 130."""
    source = inputs.model.source
    callbacks = [TrialRunLogger(register(writer, tuner.trial_settings(cfg), source)), TimingRecorder(name)]
    if not cfg.console.verbose:
        callbacks.append(ConsoleView(name))
    trainable = tuner.make_trainable(cfg, inputs.data, gpus, source)
    tune_run = search_tuner(cfg, name, trainable, callbacks, resources, gpus, inputs.profile,
                            inputs.data.sizes()["val"])
    board = (open_board(name, grid_size(cfg), cfg.train.epochs, str(out_dir / LOG_DIR / TUNE_LOG))
             if not cfg.console.verbose else None)
    trained = Trained()
    try:
        with interrupt_guard() as interrupt:
            search = tune_run.fit()
            trained.grids.append((names.PHASE_SEARCH, search))
            interrupt.raise_if_interrupted()
            note = budget_note(cfg, search)
            if note:
                trained.notes.append(note)
                say(note)
            trained.confirmed = run_confirmation(
                cfg, name, trainable, records_from_results(search, names.PHASE_SEARCH, cfg.train.seed), callbacks,
                say, on_round=board.add if board is not None else lambda n: None,
                after_round=interrupt.raise_if_interrupted)
            trained.grids.extend((names.PHASE_CONFIRM, grid) for grid in trained.confirmed.grids)
    finally:
        close_board(name)
    return trained


def _run_links(cfg: SweepConfig, uri: str, info: TrackingInfo, writer: TrialRunWriter) -> dict[str, str]:
    """Trial id -> its child run's page in the MLflow UI, for the runs the writer has made."""
    base = ui_base(uri, not cfg.tracking.uri)
    return {trial: run_url(base, info.experiment_id, run) for trial, run in writer.run_ids().items()}


def _view_line(cfg: SweepConfig, url: Optional[str], verb: str) -> str:
    """Where to see the trials side by side: the sweep's view in the MLflow UI."""
    if url is None:
        return "mlflow: the server refused the sweep's UI view (an experiment tag); filter the runs on tags.regsweep.sweep"
    start = "start the UI with: mlflow ui   (in this directory), then " if not cfg.tracking.uri else ""
    return f"mlflow: {verb} the trials: {start}open {url}"


def _closing_lines(cfg: SweepConfig, name: str, timeline: Timeline, n_runs: int, info: TrackingInfo,
                   uri: str, view_url: Optional[str]) -> None:
    out_dir = Path(cfg.output_dir) / name
    say(f"time: {timeline.line()} ({out_dir / TIMINGS_FILE})")
    if not cfg.console.verbose:
        say(f"logs: the workers' output is in Ray's session logs (/tmp/ray/session_latest/logs on each node), "
            f"the launcher's TensorFlow start-up in {out_dir / LOG_DIR}/; --verbose shows Ray's full output")
    say(f"mlflow: {n_runs} child runs under parent run {info.parent_run_id} at {uri}")
    say(_view_line(cfg, view_url, "compare"))
