"""Calibration and rung fidelity on real trials: how often the verdict says "helped" when nothing
helps, and whether early-stopping rungs keep the configs that win at the full budget.

``python -m sweep.bench calibration [--seeds 20] [--epochs 25]``
  Trains the baseline and a no-op penalty (L2 on the bias, λ=1e-5) at each weight seed 1..N, and the
  baseline again at seeds N+1..2N, with the plain loop. It then replays the verdict's sequential
  confirmation (``sweep.confirm.sequential``) on resamples of those seeds for two A/A comparisons (the no-op
  penalty paired with the baseline; the baseline against itself at other seeds): the rate of false
  "helped" at the default level, and at a single fixed look. It also trains a penalty that truly helps
  (``--penalty``, by default L2 on activity at λ=0.01) at seeds 1..N and prints, for confirmation plans
  of 2 to 6 paired seeds (one look, and sequential looks up to that many), the power (how often the
  verdict says "helped"), the A/A rate, and the epochs the confirmation costs.

``python -m sweep.bench fidelity [--configs 16] [--epochs 25] [--rungs 5,20]``
  Trains the article's 8 configs plus seeded draws from the default space to the full budget,
  recording validation accuracy every epoch. At each rung it reports Spearman's rank correlation
  (``scipy.stats.spearmanr``) between the order there and the order at the full budget, and which
  configs that an ASHA-like rule would stop there (all but the top 1/reduction_factor) finish in the
  top 3, without and with sparing a trial that keeps pace with the baseline (``scheduler.spare_within_se``).

Both write JSON and Markdown to ``--out`` and print their table. Benchmarks, not tests: each takes
5-10 minutes on 2 cores with digits.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sweep.bench.search import ARTICLE_GRID, _key, _settings
from sweep.search.searcher import BASELINE_CONFIG as BASELINE
from trainables import names

NO_OP = {names.REGULARIZER: names.L2, names.PLACEMENT: names.BIAS, names.LAMBDA: 1e-5}
#: The penalty whose power is measured: +0.9 pp on the search benchmark's split (issue 10's note).
HELPS = {names.REGULARIZER: names.L2, names.PLACEMENT: names.ACTIVITY, names.LAMBDA: 0.01}
#: Confirmation plans compared for power: at most this many paired seeds.
PLAN_SEEDS = (2, 3, 4, 5, 6)


def _final(data: Any, config: dict[str, Any], epochs: int, seed: int, history: list[float] | None = None) -> dict:
    from trainables.trainable import run_trial

    def report(metrics: dict[str, float], ckpt: Any) -> None:
        if history is not None:
            history.append(float(metrics[names.VAL_ACCURACY]))

    return run_trial(config, data, _settings(epochs, seed, 2), report=report)


def bench_calibration(args: argparse.Namespace) -> int:
    """The A/A rate of the verdict's sequential confirmation on real digits trials, and its power."""
    from sweep.stats.sequential import Plan, look_confidence
    from trainables.data.load import load_dataset
    from trainables.data.types import DataSpec

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    data = load_dataset(DataSpec(name=args.data))
    base, noop, other, helps = {}, {}, {}, {}
    for seed in range(1, args.seeds + 1):
        base[seed] = float(_final(data, {names.REGULARIZER: names.NONE}, args.epochs, seed)[names.TEST_ACCURACY])
        noop[seed] = float(_final(data, NO_OP, args.epochs, seed)[names.TEST_ACCURACY])
        other[seed] = float(_final(data, {names.REGULARIZER: names.NONE}, args.epochs,
                                   seed + args.seeds)[names.TEST_ACCURACY])
        helps[seed] = float(_final(data, HELPS, args.epochs, seed)[names.TEST_ACCURACY])
        print(f"bench: seed {seed}: none {base[seed]:.4f}, no-op {noop[seed]:.4f}, "
              f"none at seed {seed + args.seeds} {other[seed]:.4f}, {_key(HELPS)} {helps[seed]:.4f}", flush=True)
    plan = Plan.from_search(3, 6)
    level = look_confidence(plan.looks, 0.95)
    rng = np.random.default_rng(0)
    rows = []
    # two A/A comparisons: a penalty too weak to act, paired at the same seed (what the issue names);
    # and the baseline against itself at other seeds (same config, independent seed noise: harder)
    for pair, candidate in (("no-op penalty, paired seed", noop), ("baseline vs itself, other seed", other)):
        for label, looks, at in (("sequential (default)", plan.looks, level), ("one look at 2 seeds", (2,), 0.95),
                                 ("one look at 5 seeds", (5,), 0.95)):
            rate, used = _replay(base, candidate, looks, at, args.resamples, rng)
            rows.append({"comparison": pair, "procedure": label, "resamples": args.resamples,
                         "helped_rate": rate, "mean_paired_seeds": used})
    power = []
    for most in PLAN_SEEDS:  # power and cost of confirmation plans of 2 to 6 paired seeds
        plans = [(f"one look at {most}", (most,))] + ([(f"sequential 2..{most}", tuple(range(2, most + 1)))]
                                                       if most > 2 else [])
        for label, looks in plans:
            at = look_confidence(looks, 0.95)
            hit, used = _replay(base, helps, looks, at, args.resamples, rng)
            false, _ = _replay(base, other, looks, at, args.resamples, rng)
            power.append({"plan": label, "per_look_confidence": round(at, 4), "power": hit,
                          "aa_rate": false, "mean_paired_seeds": used,
                          "confirmation_epochs": round(2 * args.epochs * used, 1)})
    gains = np.array([helps[s] - base[s] for s in sorted(base)])
    diffs = np.array([noop[s] - base[s] for s in sorted(base)])
    table = pd.DataFrame(rows)
    meta = {"data": args.data, "epochs": args.epochs, "seeds": args.seeds, "no_op": NO_OP, "helps": HELPS,
            "helps_differences_pp": (100 * gains).round(3).tolist(),
            "differences_pp": (100 * diffs).round(3).tolist(), "identical_seeds": int((diffs == 0).sum()),
            "self_differences_pp": (100 * np.array([other[s] - base[s] for s in sorted(base)])).round(3).tolist()}
    (out / "calibration.json").write_text(json.dumps({**meta, "rows": rows, "power": power}, indent=2))
    (out / "calibration.md").write_text(table.to_markdown(index=False) + "\n\n"
                                        + pd.DataFrame(power).to_markdown(index=False))
    print(table.to_string(index=False))
    print(pd.DataFrame(power).to_string(index=False))
    print(f"bench: {_key(HELPS)} minus baseline per seed (pp): {meta['helps_differences_pp']}")
    print(f"bench: no-op minus baseline per seed (pp): {meta['differences_pp']}")
    print(f"bench: baseline at other seeds minus baseline (pp): {meta['self_differences_pp']}")
    return 0


def _replay(base: dict[int, float], candidate: dict[int, float], looks: tuple[int, ...], level: float,
            resamples: int, rng: np.random.Generator) -> tuple[float, float]:
    """The verdict's confirmation replayed on ``resamples`` random orders of the seeds: the rate of
    "helped", and the paired seeds used on average (the looks stop once the interval decides)."""
    from sweep.stats.paired import paired_difference

    looks = tuple(n for n in looks if n <= len(base)) or (len(base),)  # no look past the seeds trained
    helped = used = 0
    for _ in range(resamples):
        order = rng.permutation(sorted(base))[: looks[-1]]
        seeds_used = looks[-1]
        for n in looks:
            d = paired_difference({s: candidate[s] for s in order[:n]}, {s: base[s] for s in order[:n]},
                                  0.95, level=level)
            if d.decided:
                helped += d.above_zero
                seeds_used = n
                break
        used += seeds_used
    return helped / resamples, used / resamples


def fidelity_configs(n: int, seed: int) -> list[dict[str, Any]]:
    """The article's configs, then seeded draws from the default space, ``n`` in all."""
    from sweep.config.schema import SearchConfig
    from sweep.search.space import RegularizationSpace

    import optuna

    configs = [dict(c) for c in ARTICLE_GRID][:n]
    space = RegularizationSpace(SearchConfig())
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    seen = {_key(c) for c in configs}
    while len(configs) < n:
        trial = study.ask()
        space(trial)  # define-by-run: the draw is in trial.params
        study.tell(trial, 0.0)
        config = {k: getattr(v, "value", v) for k, v in trial.params.items()}  # enums to their strings
        if _key(config) not in seen:
            seen.add(_key(config))
            configs.append(config)
    return configs


def fidelity_rows(curves: dict[str, list[float]], rungs: list[int], reduction_factor: float, val_examples: int,
                  spare_within_se: float) -> list[dict[str, Any]]:
    """Per rung: Spearman's rank correlation with the full budget's order, the final top 3 that an
    ASHA-like rule (keep the top 1/reduction_factor) stops there, and those it stops when a trial that
    keeps pace with the baseline goes on (``sweep.search.rungs.keeps_pace``)."""
    from scipy import stats

    from sweep.search.rungs import keeps_pace

    final = pd.Series({k: v[-1] for k, v in curves.items()}).fillna(0.0)
    top3 = set(final.sort_values(ascending=False).index[:3])
    baseline = curves.get(_key(BASELINE))
    rows = []
    for rung in rungs:
        at = pd.Series({k: v[rung - 1] for k, v in curves.items()}).fillna(0.0)
        rho = stats.spearmanr(at.to_numpy(), final[at.index].to_numpy()).statistic
        keep = max(1, int(len(at) / reduction_factor))
        stopped = set(at.sort_values(ascending=False).index[keep:]) - {_key(BASELINE)}
        spared = {k for k in stopped if baseline is not None
                  and keeps_pace(float(at[k]), baseline[rung - 1], val_examples, spare_within_se)}
        rows.append({"rung_epoch": rung, "configs": len(at), "spearman": round(float(rho), 3),
                     "kept": keep, "top3_stopped": len(stopped & top3),
                     "which": " | ".join(sorted(stopped & top3)) or "-",
                     "spared": len(spared), "top3_stopped_sparing": len((stopped - spared) & top3)})
    return rows


def bench_fidelity(args: argparse.Namespace) -> int:
    """Spearman's rank correlation between each rung's order and the full budget's, and the top-3
    configs an ASHA-like rule would have stopped, with and without sparing late bloomers."""
    from trainables.data.load import load_dataset

    from trainables.data.types import DataSpec

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    data = load_dataset(DataSpec(name=args.data))
    if args.from_results:
        curves: dict[str, list[float]] = json.loads(Path(args.from_results).read_text())["curves"]
    else:
        curves = {}
        for config in fidelity_configs(args.configs, args.seed):
            history: list[float] = []
            _final(data, {**config}, args.epochs, 0, history)
            curves[_key(config)] = history + [float("nan")] * (args.epochs - len(history))  # collapsed: stopped
            print(f"bench: {_key(config)}: final val {history[-1]:.4f} after {len(history)} epochs", flush=True)
    rows = fidelity_rows(curves, [int(r) for r in args.rungs.split(",")], args.reduction_factor,
                         data.sizes()["val"], args.spare_within_se)
    table = pd.DataFrame(rows)
    (out / "fidelity.json").write_text(json.dumps({"curves": curves, "rows": rows}, indent=2, default=str))
    (out / "fidelity.md").write_text(table.to_markdown(index=False))
    print(table.to_string(index=False))
    return 0


def add_parser(sub: Any) -> None:
    """The ``calibration`` and ``fidelity`` subcommands."""
    cal = sub.add_parser("calibration", help="the verdict's false 'helped' rate on real A/A trials")
    cal.add_argument("--seeds", type=int, default=20)
    cal.add_argument("--epochs", type=int, default=25)
    cal.add_argument("--resamples", type=int, default=2000)
    cal.add_argument("--data", default="digits", choices=("digits", "emnist"))
    cal.add_argument("--out", default="bench-results")
    cal.set_defaults(run=bench_calibration)
    fid = sub.add_parser("fidelity", help="rank correlation of early-stopping rungs with the full budget")
    fid.add_argument("--configs", type=int, default=16)
    fid.add_argument("--epochs", type=int, default=25)
    fid.add_argument("--rungs", default="5,20")
    fid.add_argument("--reduction-factor", type=float, default=4.0)
    fid.add_argument("--seed", type=int, default=0)
    fid.add_argument("--data", default="digits", choices=("digits", "emnist"))
    fid.add_argument("--spare-within-se", type=float, default=1.0,
                     help="the rule of scheduler.spare_within_se; 0 = ASHA's rule alone")
    fid.add_argument("--from-results", default=None, help="a fidelity.json whose curves to rank again, no training")
    fid.add_argument("--out", default="bench-results")
    fid.set_defaults(run=bench_fidelity)
