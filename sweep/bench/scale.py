"""Scale by simulation: the sweep's driver with thousands of trivial trials.

``python -m sweep.bench scale [--trials 1000] [--concurrency 8] [--out bench-results/scale]``
``python -m sweep.bench scale --trials 1000 --concurrency 64 --cpus 64 --sleep-min 5 --sleep-max 20``
(the cluster's scale on fake resources: Ray is told it has 64 CPUs, one per trial)

Everything but the training is the launcher's own: the Optuna searcher (``PruneAwareOptunaSearch``
with its baseline, start points and duplicate check), ASHA, Ray Tune's loop, the MLflow writer
(one child run per trial, every epoch, the end state) on a fresh local store, and the timing
callback. Each trial sleeps sleep_min..sleep_max s in total over its epochs and reports a made-up validation
accuracy that depends on its config, so TPE and ASHA have something to work on.

It reports the driver's overhead over the trials' own time (the ideal wall time is their summed
sleep divided by the concurrency) and over a replay of the same trials by a driver that costs
nothing (``replay_makespan``: the ideal plus the sweep's tail), how the searcher's suggestion time
and MLflow's time per record grow with the trial count (median per tenth of the sweep), and the
driver's memory.

**Start-up is held apart.** On a cluster the first wave's worker processes start in parallel, a few
seconds in all. Here 2 cores start them one or two at a time, a second or more each, so trials end
while others still wait for a worker; Tune then hands the ended trial's worker to a waiting trial and
kills the worker that was starting for it (``TuneController._maybe_reuse_cached_actor``), and a sweep
of 64 at once never gets past about 15 live workers (measured: 162 worker processes started for 200
trials). So the first wave waits at a start barrier (``--barrier``, on by default) until all of its
trials run, and the overhead is measured from the moment the barrier lifts; the ramp-up is reported
on its own.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import shutil
import statistics
import threading
import time
from pathlib import Path
from typing import Any, Callable

from trainables import names

#: Epochs each trivial trial reports (ASHA's rungs sit at 1 and 3 with a grace period of 1).
EPOCHS = 4


def made_up_accuracy(config: dict[str, Any]) -> float:
    """A smooth, deterministic quality of a config: best near L2 at lambda=1e-3."""
    reg = config.get(names.REGULARIZER, names.NONE)
    if reg == names.NONE:
        return 0.90
    lam = float(config.get(names.LAMBDA) or 1e-3)
    bonus = {names.L2: 0.03, names.ELASTIC_NET: 0.02, names.L1: 0.0}.get(reg, 0.0)
    return max(0.1, 0.90 + bonus - 0.02 * (math.log10(lam) + 3.0) ** 2)


#: The file whose modification time is the moment the start barrier lifted.
LIFTED = "lifted"


def wait_at_barrier(barrier: str, wave: int, timeout_s: float = 1800.0) -> None:
    """Hold a trial of the first wave until ``wave`` trials have started, so that none ends while
    others still wait for a worker process (see the module docstring). Trials that start after the
    barrier lifted pass at once. The folder is on this machine: the simulation runs on one."""
    folder = Path(barrier)
    lifted = folder / LIFTED
    if not barrier or wave <= 1 or lifted.exists():
        return
    (folder / f"trial-{os.getpid()}-{time.time_ns()}").touch()
    deadline = time.monotonic() + timeout_s
    while not lifted.exists() and time.monotonic() < deadline:
        if sum(1 for p in folder.iterdir() if p.name.startswith("trial-")) >= wave:
            try:
                lifted.touch(exist_ok=False)
            except FileExistsError:
                pass
            break
        time.sleep(0.2)


def trivial_trainable(config: dict[str, Any], sleep_max: float, sleep_min: float = 0.0,
                      barrier: str = "", wave: int = 0) -> None:
    """Sleep sleep_min..sleep_max seconds over EPOCHS reports; no TensorFlow, no checkpoints. The first
    ``wave`` trials start together (``wait_at_barrier``); the wait is not the trial's own time."""
    from ray import tune

    wait_at_barrier(barrier, wave)
    total = random.Random(json.dumps(config, sort_keys=True, default=str)
                          + str(time.time_ns())).uniform(sleep_min, sleep_max)
    quality = made_up_accuracy(config)
    for epoch in range(1, EPOCHS + 1):
        time.sleep(total / EPOCHS)
        acc = quality * (0.7 + 0.3 * epoch / EPOCHS)
        tune.report({names.EPOCH: float(epoch), names.VAL_ACCURACY: acc, names.ACCURACY: acc,
                     names.LOSS: 1 - acc, names.VAL_LOSS: 1 - acc, names.TIME_FIT_S: total / EPOCHS,
                     names.FINISHED: float(epoch == EPOCHS), names.DIVERGED: 0.0, names.COLLAPSED: 0.0})


class _Timed:
    """Wraps a method of a class to record the wall seconds of every call, in call order, and the CPU
    seconds its thread spent in them, for this process only."""

    def __init__(self, owner: type, method: str) -> None:
        self.calls: list[float] = []
        self.cpu_s = 0.0
        original: Callable[..., Any] = getattr(owner, method)
        calls = self.calls

        def timed(this: Any, *args: Any, **kwargs: Any) -> Any:
            start, cpu = time.perf_counter(), time.thread_time()
            try:
                return original(this, *args, **kwargs)
            finally:
                calls.append(time.perf_counter() - start)
                self.cpu_s += time.thread_time() - cpu

        setattr(owner, method, timed)


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _ended(timeline: Any) -> int:
    return sum(1 for t in list(timeline.trials.values()) if t.ended is not None)


def _driver_cpu_s() -> float:
    """CPU seconds of this process (the driver: Tune's loop, searcher, scheduler, MLflow writer)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _machine_busy_s() -> float:
    """CPU seconds all of this machine's cores have been busy (``/proc/stat``), to tell a driver that
    is slow from a machine that is full."""
    with open("/proc/stat") as fh:
        fields = [float(x) for x in fh.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def memory_slope_kb(samples: list[tuple[int, float]], trials: int) -> float | None:
    """The driver's memory growth per ended trial, in kB: the least-squares slope of its RSS against
    the ended-trial count (``scipy.stats.linregress``), over the samples after a tenth of the trials
    ended, so that start-up and the running trials' fixed cost do not count."""
    from scipy import stats

    tail = [(n, mb) for n, mb in samples if n >= trials / 10]
    if len({n for n, _ in tail}) < 3:
        return None
    fit = stats.linregress([n for n, _ in tail], [mb for _, mb in tail])
    return round(1024 * float(fit.slope), 1)


def replay_makespan(durations: list[float], slots: int) -> float:
    """The wall time of the same trials, in the same start order, under a driver that costs nothing:
    each trial starts the moment one of ``slots`` frees (greedy list scheduling). Unlike the ideal
    (Σ durations ÷ slots), it keeps the sweep's tail, the last long trials that run while the other
    slots have nothing left to do, which no driver can remove; wall ÷ replay is the driver's own cost."""
    import heapq

    if not durations:
        return 0.0
    free = [0.0] * max(1, slots)
    for duration in durations:
        heapq.heappush(free, heapq.heappop(free) + duration)
    return max(free)


def by_tenth(values: list[float]) -> list[float]:
    """Median of each tenth of ``values`` (in call order), in milliseconds."""
    if not values:
        return []
    n = len(values)
    return [round(1000 * statistics.median(values[i * n // 10:max(i * n // 10 + 1, (i + 1) * n // 10)]), 3)
            for i in range(10)]


def bench_scale(args: argparse.Namespace) -> int:
    """Run the simulated sweep and report its overhead, searcher and MLflow growth, and memory."""
    import ray
    from ray import tune

    from sweep.tracking import store as tracking

    from sweep.search import tuner
    from sweep.session import set_driver_env
    from sweep.config.compose import load_config
    from sweep.search.searcher import PruneAwareOptunaSearch
    from sweep.runtime.timings import TimingRecorder, close_timeline, open_timeline
    from sweep.tracking.trial_runs import TrialRunWriter
    from sweep.tracking.tune_callback import TrialRunLogger, register, unregister

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    name = f"scale-{args.trials}-c{args.concurrency}" + ("-stock" if args.stock else "")
    per_trial = args.cpus / args.concurrency
    cfg = load_config([f"search.num_samples={args.trials}", f"train.epochs={EPOCHS}", "scheduler.grace_period=1",
                       f"search.max_concurrent_trials={args.concurrency}", "search.confirm_seeds=0",
                       f"cluster.cpus_per_trial={per_trial:g}", f"cluster.storage_path={out / 'ray_results'}",
                       f"name={name}"])
    suggest = _Timed(PruneAwareOptunaSearch, "suggest")
    deliver = _Timed(TrialRunWriter, "apply")
    rss = [(0, _rss_mb())]
    launched = time.time()
    timeline = open_timeline(name, launched)
    set_driver_env()  # the launcher's own: Tune's loggers, MLflow's retries, no links printed per run
    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    if args.tracking_uri:  # a tracking server, as on a cluster: the store's own work is the server's
        info = tracking.open_parent_run(args.tracking_uri, cfg, name, _NoData())
    else:  # the local store: SQLite inside the driver process
        uri = tracking.local_store_uri(out / f"store-{name}")
        (out / f"store-{name}").mkdir(exist_ok=True)
        with tracking.store_lock(uri):
            info = tracking.open_parent_run(uri, cfg, name, _NoData())
    writer = TrialRunWriter(info, fresh=True).start()
    callbacks = [TrialRunLogger(register(writer, tuner.trial_settings(cfg))), TimingRecorder(name)]
    barrier = out / f"barrier-{name}"
    shutil.rmtree(barrier, ignore_errors=True)
    barrier.mkdir()
    wave = min(args.concurrency, args.trials) if args.barrier else 0
    trainable = tune.with_resources(tune.with_parameters(trivial_trainable, sleep_max=args.sleep_max,
                                                         sleep_min=args.sleep_min, barrier=str(barrier),
                                                         wave=wave), {"cpu": per_trial})
    done = threading.Event()
    at_lift: list[tuple[float, float, float]] = []  # (time, driver CPU s, machine busy s) when the barrier lifts

    def sample_memory() -> None:
        while not done.wait(5.0):
            rss.append((_ended(timeline), _rss_mb()))

    def watch_barrier() -> None:
        while not done.wait(0.1):
            if (barrier / LIFTED).exists():
                at_lift.append(((barrier / LIFTED).stat().st_mtime, _driver_cpu_s(), _machine_busy_s()))
                return

    threading.Thread(target=sample_memory, daemon=True).start()
    if wave > 1:
        threading.Thread(target=watch_barrier, daemon=True).start()
    try:
        fit_start = time.time()
        at_lift.append((fit_start, _driver_cpu_s(), _machine_busy_s()))  # replaced when the barrier lifts
        if args.stock:
            stock_tuner(cfg, name, trainable, args.concurrency, [TimingRecorder(name)]).fit()
        else:
            tuner.build_tuner(cfg, name, trainable, callbacks, args.concurrency).fit()
        fit_end = time.time()
        left = writer.stop(3600, keep_in=out / "pending.jsonl")
        logged = time.time()
        steady_start, cpu_start, busy_start = at_lift[-1]
        driver_cpu, machine_busy = _driver_cpu_s() - cpu_start, _machine_busy_s() - busy_start
    finally:
        done.set()
        unregister(writer)
        close_timeline(timeline)
        ray.shutdown()
    rss.append((_ended(timeline), _rss_mb()))
    own = sum(r.get(names.TIME_FIT_S, 0.0) for t in timeline.trials.values() for r in t.results)
    ideal = own / args.concurrency
    in_start_order = sorted((t for t in timeline.trials.values() if t.started is not None), key=lambda t: t.started)
    replay = replay_makespan([sum(r.get(names.TIME_FIT_S, 0.0) for r in t.results) for t in in_start_order],
                             args.concurrency)
    wall = logged - steady_start
    report = {
        "trials": args.trials, "concurrency": args.concurrency, "ray_cpus": args.cpus,
        "sleep_min_s": args.sleep_min, "sleep_max_s": args.sleep_max,
        "trials_run": len(timeline.trials), "records_left": left,
        "start_barrier": bool(wave > 1), "ramp_up_s": round(steady_start - fit_start, 1),
        "wall_s": round(wall, 1), "wall_with_ramp_up_s": round(logged - fit_start, 1),
        "tune_fit_s": round(fit_end - steady_start, 1),
        "mlflow_after_fit_s": round(logged - fit_end, 1),
        "trials_own_s": round(own, 1), "ideal_wall_s": round(ideal, 1),
        "overhead_pct": round(100 * (wall / ideal - 1), 1) if ideal else None,
        "overhead_per_trial_ms": round(1000 * (wall - ideal) * args.concurrency / args.trials, 1),
        "replay_wall_s": round(replay, 1),
        "overhead_vs_replay_pct": round(100 * (wall / replay - 1), 1) if replay else None,
        "suggest_ms_by_tenth": by_tenth(suggest.calls),
        "mlflow_ms_per_record_by_tenth": by_tenth(deliver.calls),
        "driver_rss_mb": [(n, round(m)) for n, m in rss],
        "driver_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "driver_kb_per_trial_overall": (round(1024 * (rss[-1][1] - rss[0][1]) / max(len(timeline.trials), 1), 1)),
        "driver_kb_per_ended_trial": memory_slope_kb(rss, args.trials),
        "driver_cpu_s": round(driver_cpu, 1),
        "driver_cpu_ms_per_trial": round(1000 * driver_cpu / max(len(timeline.trials), 1), 1),
        "driver_cpu_s_suggesting": round(suggest.cpu_s, 1),
        "driver_cpu_s_mlflow": round(deliver.cpu_s, 1),
        "tracking": "server" if args.tracking_uri else "local SQLite store (in the driver)",
        "machine_cpus_busy": round(machine_busy / wall, 2) if wall else None,
        "machine_cpus": os.cpu_count(),
    }
    report["method"] = "stock" if args.stock else "regsweep"
    (out / f"{name}.json").write_text(json.dumps(report, indent=1))
    for key, value in report.items():
        print(f"{key:>30}: {value}")
    print(f"bench: wrote {out / f'{name}.json'}")
    return 0


def stock_tuner(cfg: Any, name: str, trainable: Any, concurrency: int, callbacks: list) -> Any:
    """The anchor: what a stock Ray Tune script runs on the same trials: a flat random space, Ray's
    ASHA, no tracking, Ray's default loggers (``callbacks``: the passive timing stamp only)."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    os.environ.pop("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", None)
    space = {names.REGULARIZER: tune.choice([names.L1, names.L2, names.ELASTIC_NET]),
             names.PLACEMENT: tune.choice(list(names.PLACEMENTS)), names.LAMBDA: tune.loguniform(1e-5, 0.1)}
    return tune.Tuner(
        trainable, param_space=space,
        tune_config=tune.TuneConfig(metric=names.VAL_ACCURACY, mode="max", num_samples=cfg.search.num_samples,
                                    max_concurrent_trials=concurrency,
                                    scheduler=ASHAScheduler(max_t=EPOCHS, grace_period=1)),
        run_config=tune.RunConfig(name=name, storage_path=cfg.cluster.storage_path, callbacks=callbacks, verbose=1),
    )


class _NoData:
    """What ``open_parent_run`` logs about the data of a simulation that has none."""

    name = "none (simulated trials)"
    n_classes = 0
    meta: dict[str, str] = {}

    def sizes(self) -> dict[str, int]:
        return {"train": 0, "val": 0, "test": 0}


def add_parser(sub: Any) -> None:
    """The ``scale`` subcommand."""
    p = sub.add_parser("scale", help="driver, searcher, scheduler and MLflow with thousands of trivial trials")
    p.add_argument("--trials", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=8, help="trials at once (each takes cpus/N of a CPU)")
    p.add_argument("--cpus", type=int, default=2, help="the CPUs Ray is told it has (more than the machine's "
                   "simulates a cluster: the trials only sleep)")
    p.add_argument("--sleep-min", type=float, default=0.0, help="each trial sleeps at least this many seconds")
    p.add_argument("--sleep-max", type=float, default=1.0, help="each trial sleeps at most this many seconds")
    p.add_argument("--stock", action="store_true", help="the anchor: a stock Ray Tune script (random search, "
                   "Ray's ASHA, no MLflow) on the same trials; the MLflow figures then stay empty")
    p.add_argument("--tracking-uri", default="", help="an MLflow tracking server (http://...), as on a "
                   "cluster; by default a fresh local SQLite store, whose work the driver then does itself")
    p.add_argument("--barrier", action=argparse.BooleanOptionalAction, default=True,
                   help="hold the first wave until all of its trials run, and measure from then (default); "
                   "--no-barrier measures from the start, this machine's slow worker start-up included")
    p.add_argument("--out", default="bench-results/scale")
    p.set_defaults(run=bench_scale)
