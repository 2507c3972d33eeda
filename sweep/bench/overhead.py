"""Fixed costs: the same grid as a plain Keras loop, a stock Ray Tune script and regsweep.

``python -m sweep.bench overhead [--data digits] [--configs 8] [--epochs 25] [--out bench-results/overhead]``

Each method runs in its own process, one after another, on the same data and configs (the baseline
and the article's penalized runs, in the order regsweep tries them):

- **plain**: what a user writes by hand: for each config in turn, build the model, ``fit`` every
  epoch with validation, evaluate on the test split; TensorFlow on every core;
- **stock**: a hand-written Ray Tune script: the same configs, one CPU per trial, no checkpoints, no
  tracking (a passive callback stamps the driver's clock, as regsweep's does);
- **regsweep**: ``python -m sweep.launch search=article scheduler=fifo search.confirm_seeds=0
  train.collapse_after=0``, so every config trains the full budget, exactly like the other two.

Every method leaves a ``timings.json`` (``sweep.runtime.timings``); from it and the process's own start and
exit this prints, per method: wall time and its ratio to plain, start-up (launch to the first
training step), tear-down (the last result to the process's exit), and per trial the first, median
and last epoch, the fixed cost ((first - median) + (last - median)) and the share of trial time
spent outside ``fit``. It writes ``overhead.json``, ``overhead.md`` and ``overhead.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from sweep.bench.launcher import launcher_env
from trainables import names

METHODS = ("plain", "stock", "regsweep")


def grid_configs(n: int) -> list[dict[str, Any]]:
    """The baseline and the first ``n - 1`` article runs, in the order regsweep's search tries them."""
    from sweep.search.space import ARTICLE_POINTS

    return ([{names.REGULARIZER: names.NONE}] + [dict(p) for p in ARTICLE_POINTS])[:n]


@dataclass
class TrialFigures:
    """One trial's epochs, as seconds."""

    first_epoch_s: float
    median_epoch_s: float
    last_epoch_s: float
    fixed_s: float
    """(first - median) + (last - median): what the trial costs beyond its epochs."""
    outside_fit: float
    """Share of the trial's reported time not spent in ``fit``."""
    setup_s: float
    after_last_s: Optional[float]
    """From the last result's arrival to the trial's end on the driver (checkpoint upload, actor stop)."""


@dataclass
class MethodFigures:
    """One method's run."""

    method: str
    wall_s: float
    startup_s: Optional[float]
    teardown_s: Optional[float]
    trials: list[TrialFigures] = field(default_factory=list)

    def row(self, plain_wall: float) -> dict[str, Any]:
        med = (lambda key: statistics.median(getattr(t, key) for t in self.trials) if self.trials else float("nan"))
        return {
            "method": self.method, "wall_s": round(self.wall_s, 1), "x_plain": round(self.wall_s / plain_wall, 3),
            "startup_s": _round(self.startup_s), "teardown_s": _round(self.teardown_s),
            "first_epoch_s": round(med("first_epoch_s"), 2), "median_epoch_s": round(med("median_epoch_s"), 2),
            "last_epoch_s": round(med("last_epoch_s"), 2), "fixed_per_trial_s": round(med("fixed_s"), 2),
            "outside_fit": round(_share_outside_fit(self.trials), 3),
        }


def trial_figures(times: Any) -> Optional[TrialFigures]:
    """Figures of one ``sweep.runtime.timings.TrialTimes``; None when it reported nothing."""
    epochs = [r["time_this_iter_s"] for r in times.results]
    if not epochs:
        return None
    fits = [r.get(names.TIME_FIT_S, 0.0) for r in times.results]
    middle = epochs[1:-1] or epochs
    median = statistics.median(middle)
    after = times.ended - times.results[-1]["at"] if times.ended else None
    return TrialFigures(
        first_epoch_s=epochs[0], median_epoch_s=median, last_epoch_s=epochs[-1],
        fixed_s=(epochs[0] - median) + (epochs[-1] - median) if len(epochs) > 1 else epochs[0] - median,
        outside_fit=1.0 - sum(fits) / sum(epochs) if sum(epochs) else 0.0,
        setup_s=float(times.results[0].get(names.TIME_SETUP_S, 0.0)), after_last_s=after,
    )


def method_figures(method: str, launched: float, exited: float, timings_path: Path) -> MethodFigures:
    """Figures of one method's process from its timings.json and its start and exit times."""
    from sweep.runtime.timings import Timeline

    timeline = Timeline.from_json(json.loads(timings_path.read_text()))
    first, last = timeline.first_step(), timeline.last_result()
    trials = [f for f in (trial_figures(t) for t in timeline.trials.values()) if f is not None]
    return MethodFigures(method, exited - launched, None if first is None else first - launched,
                         None if last is None else exited - last, trials)


def _share_outside_fit(trials: Sequence[TrialFigures]) -> float:
    return statistics.fmean(t.outside_fit for t in trials) if trials else float("nan")


def _round(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value, 2)


# --- the three methods, each in its own process ------------------------------------------------

def run_plain(data_name: str, configs: int, epochs: int, out: Path) -> None:
    """What a user writes by hand: for each config, build the seed CNN with its penalty, ``fit`` all
    epochs with validation, evaluate on the test split; TensorFlow on every core. Epochs are timed by
    a Keras callback, the first one from the start of the config (as Tune times a trial)."""
    from sweep.runtime.timings import FINISHED, Timeline
    from trainables.data.load import load_dataset
    from trainables.data.types import DataSpec
    from trainables.model.seed_cnn import build_model
    from trainables.model.regularizers import RegularizerSpec
    from trainables.settings import TrainSettings
    from trainables.tf_runtime import prepare_tensorflow
    from trainables.trainable import _pipeline

    timeline = Timeline("plain")
    timeline.mark("launched")
    data = load_dataset(DataSpec(name=data_name))
    settings = TrainSettings(epochs=epochs, threads=os.cpu_count() or 1)
    tf = prepare_tensorflow(settings.threads)
    import keras

    train = _pipeline(tf, data.x_train, data.y_train, settings, shuffle=True)
    val = _pipeline(tf, data.x_val, data.y_val, settings, shuffle=False)
    test = _pipeline(tf, data.x_test, data.y_test, settings, shuffle=False)
    for i, config in enumerate(grid_configs(configs)):
        times = timeline.trial(str(i))
        times.started = time.time()
        marks = {"last": times.started, "fit": times.started}

        class EpochTimes(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
                marks["fit"] = time.time()

            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                now = time.time()
                times.results.append({"at": now, names.EPOCH: float(epoch + 1), "time_this_iter_s": now - marks["last"],
                                      names.TIME_FIT_S: now - marks["fit"]})
                marks["last"] = now

        keras.utils.set_random_seed(settings.seed)
        model = build_model(data.n_classes, RegularizerSpec.from_trial_config(config), settings.learning_rate)
        model.fit(train, validation_data=val, epochs=epochs, verbose=0, callbacks=[EpochTimes()])
        model.evaluate(test, verbose=0)
        now = time.time()
        times.results[-1]["time_this_iter_s"] += now - marks["last"]  # the test evaluation ends the last epoch
        times.results[-1]["at"] = times.ended = now
    timeline.mark(FINISHED)
    timeline.write(out)


def _stock_trainable(config: dict[str, Any], data: Any, epochs: int) -> None:
    """What a user writes: train, report each epoch to Tune (no checkpoints, no tracking)."""
    from ray import tune

    from trainables.settings import TrainSettings
    from trainables.trainable import run_trial

    run_trial(config["config"], data, TrainSettings(epochs=epochs, threads=1, collapse_after=0),
              report=lambda m, c: tune.report(m))


def run_stock(data_name: str, configs: int, epochs: int, out: Path, gpus_per_trial: float) -> None:
    """Ray Tune as its docs show it: a grid over the configs, one CPU per trial, defaults elsewhere."""
    import ray
    from ray import tune

    from sweep.runtime.timings import FINISHED, TimingRecorder, open_timeline
    from trainables.data.load import load_dataset
    from trainables.data.types import DataSpec

    timeline = open_timeline("stock", time.time())
    data = load_dataset(DataSpec(name=data_name))
    ray.init(address="local", include_dashboard=False)
    try:
        tuner = tune.Tuner(
            tune.with_resources(tune.with_parameters(_stock_trainable, data=data, epochs=epochs),
                                {"cpu": 1, "gpu": gpus_per_trial}),
            param_space={"config": tune.grid_search(grid_configs(configs))},
            tune_config=tune.TuneConfig(metric=names.VAL_ACCURACY, mode="max"),
            run_config=tune.RunConfig(name="stock", storage_path=str(out / "ray_results"),
                                      callbacks=[TimingRecorder("stock")]),
        )
        tuner.fit()
    finally:
        ray.shutdown()
    timeline.mark(FINISHED)
    timeline.write(out)


def regsweep_command(data_name: str, configs: int, epochs: int, extra: Sequence[str]) -> list[str]:
    """The same grid through the launcher: the baseline and the article points, no search beyond
    them, no early stopping, no confirmation runs."""
    return [sys.executable, "-m", "sweep.launch", f"data={data_name}", "search=article",
            f"search.num_samples={configs}", "search.confirm_seeds=0", "scheduler=fifo", "train.collapse_after=0",
            f"train.epochs={epochs}", "name=overhead", *extra]


def _timed(cmd: list[str], cwd: Path, log: Path) -> tuple[float, float]:
    cwd.mkdir(parents=True, exist_ok=True)
    env = launcher_env()
    launched = time.time()
    with open(log, "w") as fh:
        proc = subprocess.run(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    exited = time.time()
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[2]} exited {proc.returncode}; see {log}")
    return launched, exited


def bench_overhead(args: argparse.Namespace) -> int:
    """Run the three methods one after another and report their figures."""
    out = Path(args.out).resolve()
    if out.exists():
        import shutil

        shutil.rmtree(out)
    out.mkdir(parents=True)
    results: list[MethodFigures] = []
    for method in args.methods.split(","):
        work = out / method
        if method == "regsweep":
            cmd = regsweep_command(args.data, args.configs, args.epochs, args.regsweep_args)
            timings = work / "outputs" / "overhead" / "timings.json"
        else:
            cmd = [sys.executable, "-m", "sweep.bench.overhead", method, "--data", args.data,
                   "--configs", str(args.configs), "--epochs", str(args.epochs), "--out", str(work),
                   "--gpus-per-trial", str(args.gpus_per_trial)]
            timings = work / "timings.json"
        print(f"bench: {method} ({args.configs} configs x {args.epochs} epochs on {args.data}) ...", flush=True)
        launched, exited = _timed(cmd, work, out / f"{method}.log")
        results.append(method_figures(method, launched, exited, timings))
        print(f"bench: {method}: {exited - launched:.1f} s", flush=True)
    return write_report(results, out, vars(args))


def write_report(results: Sequence[MethodFigures], out: Path, meta: dict[str, Any]) -> int:
    """Print the table and write overhead.json, overhead.md and overhead.png."""
    import pandas as pd

    plain = next((r.wall_s for r in results if r.method == "plain"), results[0].wall_s)
    table = pd.DataFrame([r.row(plain) for r in results])
    meta = {k: v for k, v in meta.items() if k != "run"}
    payload = {"settings": meta, "cpus": os.cpu_count(), "summary": table.to_dict("records"),
               "methods": [asdict(r) for r in results]}
    (out / "overhead.json").write_text(json.dumps(payload, indent=1))
    (out / "overhead.md").write_text(table.to_markdown(index=False))
    plot_phases(results, out / "overhead.png")
    print(table.to_string(index=False))
    print(f"bench: wrote {out}/overhead.json, overhead.md, overhead.png")
    return 0


def plot_phases(results: Sequence[MethodFigures], path: Path) -> Path:
    """One bar per method: start-up, trials and tear-down."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 1.4 + 0.6 * len(results)))
    for i, r in enumerate(results):
        startup, teardown = r.startup_s or 0.0, r.teardown_s or 0.0
        parts = (("start-up", startup, "tab:red"), ("trials", r.wall_s - startup - teardown, "tab:blue"),
                 ("tear-down", teardown, "tab:orange"))
        left = 0.0
        for label, width, color in parts:
            ax.barh(i, width, left=left, color=color, label=label if i == 0 else None)
            left += width
        ax.text(left + 1, i, f"{r.wall_s:.0f} s", va="center")
    ax.set_yticks(range(len(results)), [r.method for r in results])
    ax.invert_yaxis()
    ax.set_xlabel("wall time (s)")
    ax.set_title("Where the wall time goes")
    ax.set_xlim(0, max(r.wall_s for r in results) * 1.12)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=3, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def add_parser(sub: Any) -> None:
    """The ``overhead`` subcommand."""
    p = sub.add_parser("overhead", help="wall time and fixed costs against a plain loop and a stock script")
    p.add_argument("--data", default="digits", choices=("digits", "synthetic", "emnist"))
    p.add_argument("--configs", type=int, default=8, choices=range(1, 9), metavar="1-8",
                   help="configs of the article's grid")
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--gpus-per-trial", type=float, default=0.0, help="GPU share per trial (stock; regsweep: "
                   "pass cluster.gpus_per_trial=...)")
    p.add_argument("--out", default="bench-results/overhead")
    p.add_argument("regsweep_args", nargs="*", help="extra overrides for the regsweep run")
    p.set_defaults(run=bench_overhead)


def _child(argv: Sequence[str]) -> int:
    """``python -m sweep.bench.overhead {plain,stock} ...``: one method, in its own process."""
    p = argparse.ArgumentParser(prog="python -m sweep.bench.overhead")
    p.add_argument("method", choices=("plain", "stock"))
    p.add_argument("--data", required=True)
    p.add_argument("--configs", type=int, required=True)
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--gpus-per-trial", type=float, default=0.0)
    args = p.parse_args(argv)
    if args.method == "plain":
        run_plain(args.data, args.configs, args.epochs, args.out)
    else:
        run_stock(args.data, args.configs, args.epochs, args.out, args.gpus_per_trial)
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
