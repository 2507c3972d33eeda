"""Search quality: is regsweep's answer better than a plain grid's or a stock Ray Tune script's?

``python -m sweep.bench search [--seeds 0,1,2] [--data digits] [--num-samples 16] [--epochs 25]``

Runs, one after another on the same data, for each search seed:

- **grid**: the article's 8 configs as a plain Keras loop (``run_trial``, no Ray), the answer being
  the config with the best final validation accuracy;
- **stock**: a hand-written Ray Tune script: flat ``param_space``, stock ``OptunaSearch`` and stock
  ``ASHAScheduler`` (Ray's defaults), the answer being ``get_best_result()``;
- **regsweep**: ``python -m sweep.launch`` with its defaults, the answer being ``best_config.json``.

The quality of an answer is the mean test accuracy of its config trained with 3 weight seeds (the
same retraining for every method). It prints a table and writes ``search.json``, ``search.md`` and
``best_so_far.png`` (best-so-far test accuracy against epochs trained) to ``--out``. This is a
benchmark, not a test: it takes about 20 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import pandas as pd

from sweep.bench import sparsity
from sweep.bench.launcher import launcher_env
from trainables import names

#: The article's eight configs (keras-regularizers-emnist.txt), elastic net l1=l2=0.01.
ARTICLE_GRID: tuple[dict[str, Any], ...] = (
    {names.REGULARIZER: names.NONE},
    {names.REGULARIZER: names.L1, names.PLACEMENT: names.KERNEL_BIAS, names.LAMBDA: 0.01},
    {names.REGULARIZER: names.L1, names.PLACEMENT: names.ACTIVITY, names.LAMBDA: 0.01},
    {names.REGULARIZER: names.L2, names.PLACEMENT: names.KERNEL_BIAS, names.LAMBDA: 0.01},
    {names.REGULARIZER: names.L2, names.PLACEMENT: names.ACTIVITY, names.LAMBDA: 0.01},
    {names.REGULARIZER: names.L2, names.PLACEMENT: names.ACTIVITY, names.LAMBDA: 0.1},
    {names.REGULARIZER: names.ELASTIC_NET, names.PLACEMENT: names.KERNEL_BIAS, names.LAMBDA: 0.02,
     names.L1_RATIO: 0.5},
    {names.REGULARIZER: names.ELASTIC_NET, names.PLACEMENT: names.ACTIVITY, names.LAMBDA: 0.02,
     names.L1_RATIO: 0.5},
)
METHODS = ("grid", "stock", "regsweep")


@dataclass
class MethodRun:
    """One method at one search seed."""

    method: str
    seed: int
    answer: dict[str, Any]
    wall_s: float
    epochs: int
    curve: list[tuple[int, float]] = field(default_factory=list)
    """(epochs trained so far, test accuracy of the best-by-validation finished trial so far)."""
    quality: float = float("nan")
    """Mean test accuracy of ``answer`` over the retraining seeds."""
    verdict: dict[str, Any] = field(default_factory=dict)
    """regsweep only: helped, gain_pp, gain_interval_pp, paired_seeds (best_config.json)."""
    epochs_search: int = 0
    epochs_confirm: int = 0


def _settings(epochs: int, seed: int, threads: int) -> Any:
    from trainables.settings import TrainSettings

    return TrainSettings(epochs=epochs, seed=seed, threads=threads, collapse_after=0)


def applicable(config: dict[str, Any]) -> dict[str, Any]:
    """The params a flat config really uses (a stock flat space samples every key for every trial)."""
    reg = config.get(names.REGULARIZER, names.NONE)
    out: dict[str, Any] = {names.REGULARIZER: reg}
    if reg != names.NONE:
        out.update({names.PLACEMENT: config[names.PLACEMENT], names.LAMBDA: float(config[names.LAMBDA])})
    if reg == names.ELASTIC_NET:
        out[names.L1_RATIO] = float(config[names.L1_RATIO])
    return out


def _key(config: dict[str, Any]) -> str:
    return json.dumps(applicable(config), sort_keys=True)


def run_grid(data: Any, epochs: int, seed: int) -> MethodRun:
    """The article's 8 configs, one after another, as a plain Keras loop with 2 threads."""
    from trainables.trainable import run_trial

    start, done, best, curve = time.perf_counter(), 0, None, []
    for config in ARTICLE_GRID:
        last = run_trial(config, data, _settings(epochs, seed, 2), report=lambda m, c: None)
        done += int(last[names.EPOCH])
        if best is None or last[names.VAL_ACCURACY] > best[1][names.VAL_ACCURACY]:
            best = (config, last)
        curve.append((done, float(best[1].get(names.TEST_ACCURACY, float("nan")))))
    return MethodRun("grid", seed, dict(best[0]), time.perf_counter() - start, done, curve)


def _stock_trainable(config: dict[str, Any], data: Any, epochs: int, seed: int) -> None:
    """What a user writes: train, report val accuracy each epoch (no checkpoints, no tracking)."""
    from ray import tune

    from trainables.trainable import run_trial

    run_trial(applicable(config), data, _settings(epochs, seed, 1), report=lambda m, c: tune.report(m))


def run_stock(data: Any, epochs: int, seed: int, num_samples: int, storage: Path) -> MethodRun:
    """Ray Tune + OptunaSearch + ASHA as documented, flat space over the full ranges."""
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        start = time.perf_counter()
        space = {
            names.REGULARIZER: tune.choice(list(names.REGULARIZERS)),
            names.PLACEMENT: tune.choice(list(names.PLACEMENTS)),
            names.LAMBDA: tune.loguniform(1e-6, 1e-1),
            names.L1_RATIO: tune.uniform(0.0, 1.0),
        }
        tuner = tune.Tuner(
            tune.with_resources(tune.with_parameters(_stock_trainable, data=data, epochs=epochs, seed=seed),
                                {"cpu": 1}),
            param_space=space,
            tune_config=tune.TuneConfig(metric=names.VAL_ACCURACY, mode="max", num_samples=num_samples,
                                        search_alg=OptunaSearch(seed=seed),
                                        scheduler=ASHAScheduler(max_t=epochs)),
            run_config=tune.RunConfig(name=f"stock-{seed}", storage_path=str(storage), verbose=0),
        )
        grid = tuner.fit()
        wall = time.perf_counter() - start
        answer = dict(grid.get_best_result().config)
    finally:
        ray.shutdown()
    curve, epochs_done = curve_from_experiments([storage / f"stock-{seed}"], epochs)
    return MethodRun("stock", seed, answer, wall, epochs_done, curve)


#: The checkout this benchmark runs from (it holds sweep/ and trainables/).
def run_regsweep(data_name: str, epochs: int, seed: int, num_samples: int, workdir: Path,
                 extra: Sequence[str] = ()) -> MethodRun:
    """``python -m sweep.launch`` with its defaults, in its own working directory."""
    workdir.mkdir(parents=True, exist_ok=True)
    name = f"bench-{seed}"
    cmd = [sys.executable, "-m", "sweep.launch", f"data={data_name}", f"search.num_samples={num_samples}",
           f"train.epochs={epochs}", f"search.seed={seed}", f"name={name}", *extra]
    start = time.perf_counter()
    with open(workdir / f"{name}.log", "w") as log:
        proc = subprocess.run(cmd, cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
                              env=launcher_env())
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"regsweep exited {proc.returncode}; see {workdir / f'{name}.log'}")
    best = json.loads((workdir / "outputs" / name / "best_config.json").read_text())
    table = pd.read_csv(workdir / "outputs" / name / "results.csv")
    rounds = sorted((workdir / "ray_results").glob(f"{name}-confirm*"))  # one experiment per confirmation round
    curve, _ = curve_from_experiments([workdir / "ray_results" / name, *rounds], epochs)
    by_phase = table.groupby(names.COL_PHASE)[names.COL_EPOCHS].sum()
    log_lines = (workdir / f"{name}.log").read_text().splitlines()
    stop = next((line.split("search: ", 1)[1] for line in log_lines if line.startswith("regsweep: search: ")),
                "every planned trial ran")
    rounds_line = next((line.strip() for line in log_lines if line.strip().startswith("confirmation: ")), "")
    return MethodRun("regsweep", seed, best["config"], wall, int(table[names.COL_EPOCHS].sum()), curve,
                     verdict={**{k: best.get(k) for k in ("helped", "gain_pp", "gain_interval_pp", "paired_seeds",
                                                          "p_gain_positive")},
                              "search_stop": stop.split(":")[0], "confirmation": rounds_line},
                     epochs_search=int(by_phase.get(names.PHASE_SEARCH, 0)),
                     epochs_confirm=int(by_phase.get(names.PHASE_CONFIRM, 0)))


def curve_from_experiments(paths: Sequence[Path], max_epochs: int) -> tuple[list[tuple[int, float]], int]:
    """Best-so-far test accuracy against epochs trained, from Ray's per-trial ``result.json``.

    Every reported epoch is an event at its timestamp; when a trial finishes its full budget, it
    competes on validation accuracy, and the curve takes the test accuracy of the best so far.
    (``progress.csv`` cannot be used: its columns are fixed by the first epoch, which has no test
    accuracy.)"""
    events = []
    for path in paths:
        for result_file in sorted(path.glob("*/result.json")):
            for line in result_file.read_text().splitlines():
                if line.strip():
                    row = json.loads(line)
                    events.append((float(row.get("timestamp", 0)), row))
    events.sort(key=lambda e: e[0])
    curve, done, best_val, best_test = [], 0, -1.0, float("nan")
    for _, row in events:
        done += 1
        test = row.get(names.TEST_ACCURACY)
        if int(row.get(names.EPOCH, 0)) >= max_epochs and test is not None and not pd.isna(test):
            if row[names.VAL_ACCURACY] > best_val:
                best_val, best_test = float(row[names.VAL_ACCURACY]), float(test)
            curve.append((done, best_test))
    return curve, done


def retrain_quality(data: Any, config: dict[str, Any], epochs: int, seeds: Sequence[int],
                    cache: dict[str, float]) -> float:
    """Mean test accuracy of ``config`` trained with each weight seed (cached per config)."""
    from trainables.trainable import run_trial

    key = _key(config)
    if key not in cache:
        accs = []
        for s in seeds:
            last = run_trial(json.loads(key), data, _settings(epochs, 100 + s, 2), report=lambda m, c: None)
            accs.append(float(last.get(names.TEST_ACCURACY, 0.0)))
        cache[key] = statistics.fmean(accs)
    return cache[key]


def first_epoch_within(curve: Sequence[tuple[int, float]], target: float, tol: float = 0.003) -> Optional[int]:
    """Epochs trained when the best-so-far curve first came within ``tol`` of ``target``."""
    for epochs, acc in curve:
        if acc >= target - tol:
            return epochs
    return None


def summarize(runs: Sequence[MethodRun]) -> pd.DataFrame:
    """Per method: median and range of quality, epochs and wall time, and the speed-of-search figure."""
    rows = []
    grid_best = {r.seed: (r.curve[-1][1] if r.curve else float("nan")) for r in runs if r.method == "grid"}
    for method in METHODS:
        rs = [r for r in runs if r.method == method]
        if not rs:
            continue
        q = [r.quality for r in rs]
        reach = [first_epoch_within(r.curve, grid_best.get(r.seed, float("nan"))) for r in rs]
        rows.append({
            "method": method, "seeds": len(rs),
            "quality_median": statistics.median(q), "quality_min": min(q), "quality_max": max(q),
            "epochs_median": statistics.median(r.epochs for r in rs),
            "epochs_max": max(r.epochs for r in rs),
            "wall_s_median": statistics.median(r.wall_s for r in rs),
            "epochs_to_grid_best": ",".join("-" if e is None else str(e) for e in reach),
            "epochs_search/confirm": ",".join(f"{r.epochs_search}/{r.epochs_confirm}" for r in rs)
            if method == "regsweep" else "-",
            "paired_seeds": ",".join(str(r.verdict.get("paired_seeds")) for r in rs) if method == "regsweep" else "-",
            "search_stop": " | ".join(str(r.verdict.get("search_stop")) for r in rs) if method == "regsweep" else "-",
            "verdicts": " | ".join(_verdict_words(r.verdict) for r in rs) if method == "regsweep" else "-",
            "answers": " | ".join(_key(r.answer) for r in rs),
        })
    return pd.DataFrame(rows)


def _verdict_words(verdict: dict[str, Any]) -> str:
    """``helped +0.9 [+0.4, +1.4] P>0 0.99`` or ``not proven -0.1 [-1.0, +0.8] P>0 0.41``: the claim, the
    gain of the stated penalty, its interval and P(gain > 0)."""
    gain, interval = verdict.get("gain_pp"), verdict.get("gain_interval_pp")
    words = "helped" if verdict.get("helped") else "not proven"
    if gain is None:
        return words
    chance = verdict.get("p_gain_positive")
    return (words + f" {gain:+.1f}" + (f" [{interval[0]:+.1f}, {interval[1]:+.1f}]" if interval else "")
            + (f" P>0 {chance:.2f}" if chance is not None else ""))


def plot_curves(runs: Sequence[MethodRun], path: Path) -> Path:
    """Best-so-far test accuracy against epochs trained, one line per method and seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    colors = dict(zip(METHODS, ("tab:grey", "tab:orange", "tab:blue")))
    for r in runs:
        if r.curve:
            xs, ys = zip(*r.curve)
            ax.step(xs, ys, where="post", color=colors[r.method], alpha=0.8,
                    label=r.method if r.seed == min(x.seed for x in runs if x.method == r.method) else None)
    useful = [y for r in runs for _, y in r.curve if y > 0.5]  # a collapsed first finisher would squash the axis
    if useful:
        ax.set_ylim(min(useful) - 0.005, max(useful) + 0.005)
    ax.set_xlabel("epochs trained (all trials)")
    ax.set_ylabel("test accuracy of the best-so-far trial")
    ax.set_title("Search efficiency: best so far against compute")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def bench_search(args: argparse.Namespace) -> int:
    """Run every method at every seed, retrain the answers, write and print the comparison."""
    from trainables.data.load import load_dataset
    from trainables.data.types import DataSpec

    if names.SPARSITY in args.objectives.split(","):  # the multi-objective comparison (sweep.bench.sparsity)
        return sparsity.run(args)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    data = load_dataset(DataSpec(name=args.data))
    seeds = [int(s) for s in args.seeds.split(",")]
    runners: dict[str, Callable[[int], MethodRun]] = {
        "grid": lambda s: run_grid(data, args.epochs, s),
        "stock": lambda s: run_stock(data, args.epochs, s, args.num_samples, out / "stock"),
        "regsweep": lambda s: run_regsweep(args.data, args.epochs, s, args.num_samples, out / "regsweep",
                                           args.regsweep_args),
    }
    runs: list[MethodRun] = []
    for seed in seeds:
        for method in args.methods.split(","):
            print(f"bench: {method} seed {seed} ...", flush=True)
            run = runners[method](seed)
            print(f"bench: {method} seed {seed}: {run.wall_s:.0f} s, {run.epochs} epochs, answer {_key(run.answer)}",
                  flush=True)
            runs.append(run)
    cache: dict[str, float] = {}
    for run in runs:
        run.quality = retrain_quality(data, run.answer, args.epochs, range(args.retrain_seeds), cache)
    baseline = retrain_quality(data, {names.REGULARIZER: names.NONE}, args.epochs, range(args.retrain_seeds), cache)
    print(f"bench: no regularization retrained: {baseline:.4f} (an answer's quality should never be below it)")
    return write_report(runs, out, {"data": args.data, "num_samples": args.num_samples, "epochs": args.epochs,
                                    "seeds": seeds, "retrained": cache, "baseline_quality": baseline})


def write_report(runs: Sequence[MethodRun], out: Path, meta: dict[str, Any]) -> int:
    """Write search.json, search.md and best_so_far.png, and print the table."""
    table = summarize(runs)
    payload = {**meta, "runs": [run.__dict__ for run in runs], "summary": table.to_dict("records")}
    (out / "search.json").write_text(json.dumps(payload, indent=2, default=str))
    (out / "search.md").write_text(table.to_markdown(index=False))
    plot_curves(runs, out / "best_so_far.png")
    print(table.to_string(index=False))
    print(f"bench: wrote {out}/search.json, search.md, best_so_far.png")
    return 0




def add_parser(sub: Any) -> None:
    """The ``search`` subcommand."""
    search = sub.add_parser("search", help="search quality and cost against a plain grid and a stock script")
    search.add_argument("--seeds", default="0,1,2", help="search seeds, comma-separated")
    search.add_argument("--data", default="digits", choices=("digits", "emnist"))
    search.add_argument("--num-samples", type=int, default=16)
    search.add_argument("--epochs", type=int, default=25)
    search.add_argument("--retrain-seeds", type=int, default=3, help="weight seeds that measure an answer")
    search.add_argument("--methods", default=",".join(METHODS))
    search.add_argument("--out", default="bench-results")
    search.add_argument("--objectives", default=names.VAL_ACCURACY,
                        help="val_accuracy,sparsity: MOASHA against val-only ASHA (as `sweep.bench sparsity`)")
    sparsity.add_arguments(search, defaults=False)
    search.add_argument("regsweep_args", nargs="*", help="extra overrides for the regsweep run")
    search.set_defaults(run=bench_search)
