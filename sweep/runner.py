"""``run_sweep(cfg)``: the whole sweep as one plain function (the CLI and the tests call it)."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Optional

import pandas as pd

from sweep.runtime import cluster

from sweep.report import ranking

from sweep.report import summary

from sweep.tracking import store as tracking

from sweep.search import tuner
from sweep.config.schema import SweepConfig
from sweep.report.plots import settle_canvas, write_plots
from sweep.confirm.rounds import ConfirmOutcome, run_confirmation
from sweep.runtime.interrupt import interrupt_guard
from sweep.config.fingerprint import first_difference, results_fingerprint, started_with_old_l1_ratio
from sweep.tracking.retry import DRIVER_MLFLOW_ENV
from sweep.runtime.timings import (DATA_READY, FINISHED, MLFLOW_READY, RAY_READY, SUMMARY_WRITTEN, TRIALS_DONE, Timeline,
                           TimingRecorder, close_timeline, open_timeline)
from sweep.tracking.trial_runs import TrackingInfo, TrialRunWriter
from sweep.tracking.tune_callback import TrialRunLogger, register, unregister
from sweep.report.verdict import VERDICT_FILE, Verdict, make_verdict
from trainables import names
from sweep.report.article import comparison as compare_with_article
from sweep.runtime.console import TUNE_LOG, ConsoleView, close_board, describe, go_quiet, open_board
from sweep.search.priors import DataProfile, prior_points, profile_inputs, rule_outcome
from sweep.report.pareto import ParetoAnswer, pareto_answer, write_front
from sweep.report.pareto import render as render_pareto
from sweep.search.space import start_points
from trainables.choices import Prior
from trainables.data.load import load_dataset
from trainables.data.types import Dataset
from trainables.model.check import ModelReport, check_model
from trainables.model.source import SEED_CNN, ModelSource
from trainables.trainable import default_source, layers_param, model_input
from trainables.user_code import module_path
from trainables.errors import ConfigError, SummaryNotLogged

RESULTS_CSV = "results.csv"
BEST_CONFIG = "best_config.json"
SPACE_FILE = "search_space.json"
#: Under <output_dir>/<name>: the driver's TensorFlow start-up lines in the compact console mode.
LOG_DIR = "logs"
#: MLflow records the driver could not deliver before it stopped; a resume sends them first.
PENDING_FILE = ".mlflow-pending.jsonl"
#: Where an earlier version kept them, as a pickle: never read (a pickle from shared storage runs code).
OLD_PENDING_FILE = ".mlflow-pending.pkl"
#: Figures of the best trial written to best_config.json and logged on the parent run as best_<name>.
BEST_METRICS = (names.VAL_ACCURACY, names.TEST_ACCURACY, names.SPARSITY)


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


def run_sweep(cfg: SweepConfig, launched: Optional[float] = None) -> SweepOutcome:
    """Check everything the user can get wrong, load the data once, run (or resume) the Tune
    sweep, and write the summary. Bad input fails before any server, Ray or trial starts.
    ``launched`` (``time.time()`` at the command's start) anchors the start-up time in timings.json."""
    launched = time.time() if launched is None else launched
    name = cfg.sweep_name()
    out_dir = Path(cfg.output_dir).expanduser().resolve() / name
    space = results_fingerprint(cfg)
    with _sweep_lock(out_dir):
        if cfg.resume:  # checked under the lock: a twin may have just created the sweep
            _check_resumable(cfg, name, out_dir, space)
        else:
            _check_new(cfg, name)
        if cfg.tracking.uri:
            tracking.preflight(cfg.tracking.uri)
        cluster.preflight(cfg.cluster)
        data = load_dataset(cfg.data)
        data_ready = time.time()
        _say(f"data {data.name}: " + ", ".join(f"{k} {v}" for k, v in data.sizes().items())
             + f", {data.n_classes} classes" + (f", examples of shape {tuple(data.x_train.shape[1:])}"
                                                 if not data.pixels else ""))
        if tuner.collapse_off_for_data(cfg):
            _say(f"data {data.name} has random labels, so every trial sits at chance: collapse detection is off "
                 "(train.collapse_after=0)")
        if not cfg.console.verbose:
            go_quiet(str(out_dir / LOG_DIR))
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # the summary says how to look
        model = check_model(model_source(cfg, data), data, cfg.train.seed)
        _say(model.line())
        profile = profile_inputs(data.x_train, cfg.data.seed)
        _say(profile.line() + (" (search.prior=auto: tried first)" if cfg.search.prior == Prior.auto else ""))
        for key, value in {**DRIVER_MLFLOW_ENV, **tuner.DRIVER_TUNE_ENV}.items():  # MLflow: one retry policy
            os.environ.setdefault(key, value)
        uri = cfg.tracking.uri or tracking.local_store_uri(Path.cwd())
        timeline = open_timeline(name, launched)
        timeline.mark(DATA_READY, data_ready)
        try:
            return _run(cfg, name, out_dir, space, uri, data, model, profile, timeline)
        finally:
            close_timeline(timeline)


@contextmanager
def _sweep_lock(out_dir: Path) -> Iterator[None]:
    """Hold ``<output_dir>/.<name>.lock`` for the whole sweep: a second launch of the same name
    (a resume while the first still runs, or a twin started at the same moment) is refused rather
    than sharing Ray state and MLflow runs. The OS drops the lock when the process dies."""
    from filelock import FileLock, Timeout

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(out_dir.parent / f".{out_dir.name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise ConfigError("name", f"sweep {out_dir.name!r} is running in another process right now "
                          f"(lock {lock.lock_file})", "wait for it to end, or pick another name") from None
    try:
        yield
    finally:
        lock.release()


def model_source(cfg: SweepConfig, data: Dataset) -> ModelSource:
    """The sweep's model, shaped for its data."""
    return replace(default_source(data, cfg.train), target=cfg.model, include=tuple(cfg.regularize.include),
                   exclude=tuple(cfg.regularize.exclude))


def _run(cfg: SweepConfig, name: str, out_dir: Path, space: dict[str, Any], uri: str,
         data: Dataset, model: ModelReport, profile: DataProfile, timeline: Timeline) -> SweepOutcome:
    source = model.source
    with ThreadPoolExecutor(1, thread_name_prefix="regsweep-mlflow-prepare") as pool:
        preparing = pool.submit(tracking.prepare_store)  # overlaps Ray's start-up
        pool.submit(settle_canvas)  # before the writer thread can import IPython (sweep.report.plots)
        started = cluster.connect(cfg.cluster, user_modules(cfg), quiet=not cfg.console.verbose)
        timeline.mark(RAY_READY)
    info: Optional[TrackingInfo] = None
    writer: Optional[TrialRunWriter] = None
    grids: list[Any] = []
    confirmed = ConfirmOutcome()
    notes: list[str] = []
    """What the budget left undone, for the verdict."""
    try:
        preparing.result()
        res = cluster.cluster_summary()
        gpus = tuner.resolve_gpus_per_trial(cfg, res["gpus"])
        _say(f"ray: {res['nodes']} node(s), {res['cpus']:g} CPUs, {res['gpus']:g} GPUs; "
             f"per trial {cfg.cluster.cpus_per_trial:g} CPU, {gpus:g} GPU")
        cluster.check_trial_fits(res["node_list"], cfg.cluster.cpus_per_trial, gpus)
        with tracking.store_lock(uri):  # last step before trials: nothing half-logged
            info = tracking.open_parent_run(uri, cfg, name, data, {**model_params(model), **profile.params()})
        _say(f"mlflow: experiment {cfg.tracking.experiment!r}, parent run {info.parent_run_id} at {uri}")
        timeline.mark(MLFLOW_READY)
        writer = TrialRunWriter(info, example=model_input(data, data.x_val[:1]), fresh=not cfg.resume).start()
        if cfg.resume and writer.restore_saved(out_dir / PENDING_FILE):
            _say(f"mlflow: sending {len(writer.pending())} record(s) an earlier run could not deliver")
        if cfg.resume and (out_dir / OLD_PENDING_FILE).exists():
            _say(f"WARNING: {out_dir / OLD_PENDING_FILE} holds records an older regsweep could not deliver, as a "
                 "pickle, which is not read (unpickling a shared file can run any code); resume with the older "
                 "version to send them, or delete the file")
        callbacks = [TrialRunLogger(register(writer, tuner.trial_settings(cfg), source)), TimingRecorder(name)]
        if not cfg.console.verbose:
            callbacks.append(ConsoleView(name))
        trainable = tuner.make_trainable(cfg, data, gpus, source)
        if cfg.resume:
            _say(f"resuming sweep {name} from {tuner.experiment_path(cfg, name)}")
            tune_run = tuner.restore_tuner(cfg, name, trainable)
        else:
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / SPACE_FILE).write_text(json.dumps(space, indent=2))
            _say(f"sweep {name}: {cfg.search.num_samples} trials x {cfg.train.epochs} epochs (the baseline "
                 f"included), scheduler {cfg.scheduler.name}, state in {tuner.experiment_path(cfg, name)}")
            concurrency = tuner.concurrent_trials(cfg, res["cpus"], res["gpus"], gpus)
            prior = prior_points(profile, [str(p) for p in cfg.search.placements]) if cfg.search.prior == Prior.auto else None
            tune_run = tuner.build_tuner(cfg, name, trainable, callbacks, concurrency, prior)
        board = (open_board(name, grid_size(cfg), cfg.train.epochs, str(out_dir / LOG_DIR / TUNE_LOG))
                 if not cfg.console.verbose else None)
        try:
            with interrupt_guard() as interrupt:  # Ctrl-C: Tune saves its state; no confirmation, exit 130
                grids.append((names.PHASE_SEARCH, tune_run.fit()))
                interrupt.raise_if_interrupted()
                left = grid_size(cfg) - len(grids[0][1])
                trained = sum(int((r.metrics or {}).get(names.EPOCH) or 0) for r in grids[0][1])
                share = tuner.search_budget(cfg)
                if left > 0 and not cfg.search.grid and share and trained + cfg.train.epochs > share:
                    notes.append(f"search: {left} of {grid_size(cfg)} trials not started, since they could have "
                                 f"taken the search past its share of the epoch budget ({share} "
                                 f"of search.budget_epochs={tuner.budget(cfg)})")
                    _say(notes[-1])
                confirmed = run_confirmation(
                    cfg, name, trainable, summary.records_from_results(grids[0][1], names.PHASE_SEARCH, cfg.train.seed),
                    callbacks, _say, on_round=board.add if board is not None else lambda n: None,
                    after_round=interrupt.raise_if_interrupted)
                grids.extend((names.PHASE_CONFIRM, grid) for grid in confirmed.grids)
        finally:
            close_board(name)
    except BaseException:
        if writer is not None:
            writer.stop(5.0, keep_in=out_dir / PENDING_FILE, limit_s=5.0)  # resume=true sends what is left
            unregister(writer)
        if info is not None:
            tracking.end_parent_quietly(info, names.RUN_KILLED)  # resume=true reopens it
        raise
    finally:
        timeline.mark(TRIALS_DONE)
        cluster.disconnect(started)
    assert info is not None and writer is not None
    records = [rec for phase, grid in grids for rec in summary.records_from_results(grid, phase, cfg.train.seed)]
    outcome = _summarize(cfg, name, out_dir, data, records, model, profile, confirmed, notes + [confirmed.line()])
    timeline.mark(SUMMARY_WRITTEN)
    _log_summary(cfg, info, writer, outcome, out_dir)
    timeline.mark(FINISHED)
    timeline.write(out_dir)
    _say(f"time: {timeline.line()} (outputs/{name}/timings.json)")
    if not cfg.console.verbose:
        _say(f"logs: the workers' output is in Ray's session logs (/tmp/ray/session_latest/logs on each node), "
             f"the launcher's TensorFlow start-up in outputs/{name}/{LOG_DIR}/; --verbose shows Ray's full output")
    _say(f"mlflow: {len(outcome.table)} child runs under parent run {info.parent_run_id}; "
         + ("open the UI with: mlflow ui   (in this directory)" if not cfg.tracking.uri else f"see {uri}"))
    return outcome


def _log_summary(cfg: SweepConfig, info: TrackingInfo, writer: TrialRunWriter, outcome: "SweepOutcome",
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
            _say(f"WARNING: not in MLflow: {problem}")
        if cfg.resume:
            lost = writer.remove_lost_runs({str(t) for t in outcome.table[names.COL_TRIAL]})
            if lost:
                _say(f"mlflow: removed {lost} child run(s) of trials the killed launcher had started before Ray "
                     f"saved them (Ray trained them again under new ids; MLflow's deleted view keeps them)")
        if outcome.pareto is not None:
            tracking.tag_child_runs(info, {str(t): "true" for t in outcome.pareto.trials}, names.TAG_PARETO, "false")
        tracking.finish_parent_run(info, outcome.files, outcome.best, outcome.best_metrics,
                                   verdict=outcome.verdict.headline if outcome.verdict else None)
    except SummaryNotLogged:
        tracking.end_parent_quietly(info, names.RUN_FAILED)
        raise
    except Exception as exc:  # the results are on disk; say so instead of a traceback
        tracking.end_parent_quietly(info, names.RUN_FAILED)
        raise SummaryNotLogged(f"logging the summary to MLflow failed ({exc.__class__.__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''}); the results are in {out_dir}/") from exc
    finally:
        unregister(writer)


def model_params(model: ModelReport) -> dict[str, Any]:
    """The parent run's params about the model: which layers take the regularizer, and how it trains."""
    table = model.source.table or {}
    return {names.REGULARIZED_LAYERS: layers_param(list(table)), "model.layers": model.layers,
            "model.optimizer": model.optimizer, "model.loss": model.loss, "model.compiled_by": model.compiled_by}


def user_modules(cfg: SweepConfig) -> list[Path]:
    """The user's model module (file or top-level package) that a cluster's workers must import."""
    if cfg.model == SEED_CNN:
        return []
    path = module_path(cfg.model)
    return [path] if path is not None else []


def grid_size(cfg: SweepConfig) -> int:
    """How many search trials the sweep runs (a grid runs its points, a search num_samples)."""
    if cfg.search.grid:
        return len(start_points(cfg.search)) + int(cfg.search.baseline)
    return cfg.search.num_samples


def _summarize(cfg: SweepConfig, name: str, out_dir: Path, data: Dataset, records: list[summary.TrialRecord],
               model: ModelReport, profile: DataProfile, confirmed: ConfirmOutcome, notes: list[str]
               ) -> SweepOutcome:
    table = summary.trials_table(records)
    stats = ranking.config_stats(table)
    sizes = data.sizes()
    rec_row, best_penalized = ranking.choose(stats, sizes["val"], cfg.search.confirm_seeds, table,
                                             cfg.search.confidence)
    verdict = make_verdict(table, stats, rec_row, best_penalized, cfg.search, level=confirmed.level, notes=notes)
    if rec_row is not None:
        best = summary.best_config(rec_row)
        best_metrics = {names.VAL_ACCURACY: float(rec_row["val_mean"]), names.TEST_ACCURACY: float(rec_row["test_mean"]),
                        names.SPARSITY: float(rec_row[names.SPARSITY])}
        extra = {"n_seeds": int(rec_row["n_seeds"]), "val_accuracy_sd": _nan_none(rec_row["val_sd"]),
                 "test_accuracy_sd": _nan_none(rec_row["test_sd"])}
    else:  # nothing completed: fall back to the best trial that trained at all
        row = summary.best_trial(table)
        best = summary.best_config(row) if row is not None else None
        best_metrics = {key: _num(row, key) for key in BEST_METRICS} if row is not None else {}
        extra = {"n_seeds": 1 if row is not None else 0}
    note = summary.lambda_edge_note(pd.Series(best), cfg.search) if best else None
    files = [summary.write_csv(table, out_dir / RESULTS_CSV)]
    if best is not None:
        payload = {"sweep": name, "dataset": data.name, "config": best, **best_metrics, **extra,
                   "verdict": verdict.headline, **verdict.gain_fields(),
                   "edge_note": note}
        (out_dir / BEST_CONFIG).write_text(json.dumps(payload, indent=2))
        files.append(out_dir / BEST_CONFIG)
    answer = pareto_answer(table, cfg.search.accuracy_tolerance)
    penalized_best = best_penalized[names.REGULARIZER] if best_penalized is not None else None
    helped = rec_row is not None and rec_row[names.REGULARIZER] != names.NONE
    sections = {
        "Accuracy and sparsity": render_pareto(answer, _describe_row),
        "The article's rule of thumb": f"{profile.line()}.\n{rule_outcome(profile, penalized_best, helped)}",
    }
    article = compare_with_article(stats, data.name)
    if article:
        sections["Beside the article"] = article
    (out_dir / VERDICT_FILE).write_text(verdict.markdown(name, sections))
    files.append(out_dir / VERDICT_FILE)
    if not answer.front.empty:
        files.append(write_front(answer, out_dir))
    top = summary.best_trial(table[table[names.COL_STATE] == names.STATE_COMPLETED]) if not table.empty else None
    pruned = list(dict.fromkeys(([str(top[names.COL_TRIAL])] if top is not None else []) + answer.trials
                                + ([str(answer.compressible[names.COL_TRIAL])] if answer.compressible is not None else [])))
    files.extend(write_plots(table, out_dir, pruned))
    print()
    print(f"=== sweep {name}: {len(table)} trials "
          f"({', '.join(f'{v} {k}' for k, v in summary.state_counts(table).items())}), "
          f"{summary.epochs_line(table, tuner.budget(cfg))} ===")
    print(summary.render_table(table))
    print(f"\n{model.line()}")
    print("\nper config (completed trials; mean ± sd over seeds):")
    print(ranking.render_stats(stats))
    if best is not None:
        print(f"\nbest config: {json.dumps(best)}  "
              f"({names.OBJECTIVE} {best_metrics[names.OBJECTIVE]:.4f}, {extra['n_seeds']} seed(s))")
    else:
        print("\nno trial produced a usable result")
    print(f"\n{sections['Accuracy and sparsity']}")
    print(f"\n{rule_outcome(profile, penalized_best, helped)}")
    if article:
        print(f"\n{article}")
    print(f"\nverdict: {verdict.text()}")
    if note:
        print(f"WARNING: {note}")
    print(f"results: {out_dir}/ ({', '.join(p.name for p in files)})")
    return SweepOutcome(name=name, table=table, best=best, edge_note=note, output_dir=out_dir, files=files,
                        best_metrics=best_metrics, verdict=verdict, stats=stats, pareto=answer)


def _describe_row(row: pd.Series) -> str:
    return f"{row[names.COL_TRIAL]} {describe(row)}"


def _nan_none(value: Any) -> Optional[float]:
    return None if value is None or pd.isna(value) else float(value)


def _check_new(cfg: SweepConfig, name: str) -> None:
    from ray import tune

    if cfg.name and tune.Tuner.can_restore(tuner.experiment_path(cfg, name)):
        raise ConfigError("name", f"a sweep named {name!r} already exists in {tuner.resolve_storage_path(cfg)}",
                          "add resume=true to continue it, or pick another name")


def _check_resumable(cfg: SweepConfig, name: str, out_dir: Path, space: dict[str, Any]) -> None:
    from ray import tune

    if not tune.Tuner.can_restore(tuner.experiment_path(cfg, name)):
        raise ConfigError("resume", f"no sweep named {name!r} to resume in {tuner.resolve_storage_path(cfg)}",
                          "check name= and cluster.storage_path=, or drop resume=true to start a new sweep")
    saved_file = out_dir / SPACE_FILE
    if not saved_file.exists():
        return
    saved = json.loads(saved_file.read_text())
    if started_with_old_l1_ratio(saved):
        raise ConfigError("search.l1_ratio", f"sweep {name!r} was started when l1_ratio meant the L2 share "
                          "(1 = pure L2); it now follows scikit-learn (1 = pure L1)",
                          "start a new sweep under another name; resuming would mix two meanings")
    key = first_difference(saved, space)
    if key is not None:
        raise ConfigError(key, f"differs from the value sweep {name!r} started with "
                          f"({saved.get(key)!r} then, {space.get(key)!r} now), and it changes results",
                          f"resume with the original {key}, or start a new sweep under another name")


def _num(row: Any, key: str) -> float:
    value = row.get(key) if row is not None else None
    return float("nan") if value is None or pd.isna(value) else float(value)


def _say(text: str) -> None:
    print(f"regsweep: {text}", flush=True)



