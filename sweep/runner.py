"""``run_sweep(cfg)``: the whole sweep as one plain function (the CLI and the tests call it)."""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

import pandas as pd

from sweep import cluster, summary, tracking, tuner
from sweep.config import SweepConfig
from sweep.plots import write_plots
from sweep.space import RegularizationSpace
from trainables import names
from trainables.data import Dataset, load_dataset
from trainables.errors import ConfigError

RESULTS_CSV = "results.csv"
BEST_CONFIG = "best_config.json"
SPACE_FILE = "search_space.json"
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


def run_sweep(cfg: SweepConfig) -> SweepOutcome:
    """Check everything the user can get wrong, load the data once, run (or resume) the Tune
    sweep, and write the summary. Bad input fails before any server, Ray or trial starts."""
    name = cfg.sweep_name()
    out_dir = Path(cfg.output_dir).expanduser().resolve() / name
    space = RegularizationSpace(cfg.search).fingerprint()
    with _sweep_lock(out_dir):
        if cfg.resume:  # checked under the lock: a twin may have just created the sweep
            _check_resumable(cfg, name, out_dir, space)
        else:
            _check_new(cfg, name)
        if cfg.tracking.uri:
            tracking.preflight(cfg.tracking.uri)
        cluster.preflight(cfg.cluster)
        data = load_dataset(cfg.data)
        _say(f"data {data.name}: " + ", ".join(f"{k} {v}" for k, v in data.sizes().items())
             + f", {data.n_classes} classes")
        embedded = None
        if cfg.tracking.uri:
            uri = cfg.tracking.uri
        else:
            embedded = tracking.EmbeddedServer(Path.cwd())
            uri = embedded.start()
        try:
            return _run(cfg, name, out_dir, space, uri, data)
        finally:
            if embedded is not None:
                embedded.stop()


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


def _run(cfg: SweepConfig, name: str, out_dir: Path, space: dict[str, Any], uri: str,
         data: Dataset) -> SweepOutcome:
    started = cluster.connect(cfg.cluster)
    info = None
    try:
        res = cluster.cluster_summary()
        gpus = tuner.resolve_gpus_per_trial(cfg, res["gpus"])
        _say(f"ray: {res['nodes']} node(s), {res['cpus']:g} CPUs, {res['gpus']:g} GPUs; "
             f"per trial {cfg.cluster.cpus_per_trial:g} CPU, {gpus:g} GPU")
        cluster.check_trial_fits(res["node_list"], cfg.cluster.cpus_per_trial, gpus)
        info = tracking.open_parent_run(uri, cfg, name, data)  # last step before trials: nothing half-logged
        _say(f"mlflow: experiment {cfg.tracking.experiment!r}, parent run {info.parent_run_id} at {uri}")
        trainable = tuner.make_trainable(cfg, data, gpus, info)
        if cfg.resume:
            _say(f"resuming sweep {name} from {tuner.experiment_path(cfg, name)}")
            tune_run = tuner.restore_tuner(cfg, name, trainable)
        else:
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / SPACE_FILE).write_text(json.dumps(space, indent=2))
            _say(f"sweep {name}: {cfg.search.num_samples} trials x {cfg.train.epochs} epochs, "
                 f"scheduler {cfg.scheduler.name}, state in {tuner.experiment_path(cfg, name)}")
            tune_run = tuner.build_tuner(cfg, name, trainable)
        results = tune_run.fit()
    except BaseException:
        if info is not None:
            _end_parent_quietly(info, "KILLED")  # resume=true reopens it
        raise
    finally:
        cluster.disconnect(started)
    outcome = _summarize(cfg, name, out_dir, data, results)
    filled = tracking.backfill_trial_metrics(info, summary.epoch_histories(results))
    if filled:
        _say(f"mlflow: backfilled {filled} epoch(s) from Ray's records that trials had not delivered")
    tracking.close_trial_runs(info, dict(zip(outcome.table["trial"], outcome.table["state"])))
    tracking.finish_parent_run(info, outcome.files, outcome.best, outcome.best_metrics)
    _say(f"mlflow: {len(outcome.table)} child runs under parent run {info.parent_run_id}; "
         + ("open the UI with: mlflow ui   (in this directory)" if not cfg.tracking.uri else f"see {uri}"))
    return outcome


def _end_parent_quietly(info: Any, status: str) -> None:
    try:
        from mlflow.tracking import MlflowClient

        MlflowClient(tracking_uri=info.uri).set_terminated(info.parent_run_id, status=status)
    except Exception:  # the server may be what failed; the run stays open for resume
        pass


def _summarize(cfg: SweepConfig, name: str, out_dir: Path, data: Dataset, results: Any) -> SweepOutcome:
    table = summary.trials_table(summary.records_from_results(results))
    best_row = summary.best_trial(table)
    best = summary.best_config(best_row) if best_row is not None else None
    note = summary.lambda_edge_note(best_row, cfg.search) if best_row is not None else None
    best_metrics = {key: _num(best_row, key) for key in BEST_METRICS} if best_row is not None else {}
    files = [summary.write_csv(table, out_dir / RESULTS_CSV)]
    if best is not None:
        payload = {"sweep": name, "dataset": data.name, "config": best, **best_metrics, "edge_note": note}
        (out_dir / BEST_CONFIG).write_text(json.dumps(payload, indent=2))
        files.append(out_dir / BEST_CONFIG)
    files.extend(write_plots(table, out_dir))
    print()
    print(f"=== sweep {name}: {len(table)} trials "
          f"({', '.join(f'{v} {k}' for k, v in summary.state_counts(table).items())}) ===")
    print(summary.render_table(table))
    if best is not None:
        print(f"\nbest config: {json.dumps(best)}  "
              f"({names.OBJECTIVE} {best_metrics[names.OBJECTIVE]:.4f})")
    else:
        print("\nno trial produced a usable result")
    if note:
        print(f"WARNING: {note}")
    print(f"results: {out_dir}/ ({', '.join(p.name for p in files)})")
    return SweepOutcome(name=name, table=table, best=best, edge_note=note, output_dir=out_dir, files=files,
                        best_metrics=best_metrics)


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
    saved = out_dir / SPACE_FILE
    if saved.exists() and json.loads(saved.read_text()) != space:
        raise ConfigError("search", f"the search space differs from the one sweep {name!r} started with",
                          "resume with the original search.* settings, or start a new sweep under another name")


def _num(row: Any, key: str) -> float:
    value = row.get(key) if row is not None else None
    return float("nan") if value is None or pd.isna(value) else float(value)


def _say(text: str) -> None:
    print(f"regsweep: {text}", flush=True)



