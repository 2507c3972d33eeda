"""Calibration and rung fidelity on real trials: how often the shipped rule says "helped" when nothing
helps, how often it finds a real gain, what it recommends, and whether early-stopping rungs keep the
configs that win at the full budget.

``python -m sweep.bench calibration [--seeds 20] [--epochs 25]``
  Trains with the plain loop, at each seed s = 1..N on seed s's own split (as confirmation does): the
  baseline, a no-op penalty (L2 on the bias, λ=1e-5), a penalty that truly helps (``HELPS``, L2 on
  activity at λ=0.01), and the baseline again at seed s + N on split s (the baseline against itself:
  same config, other weights). It then replays **the whole shipped rule** (``replay``: the race of
  ``sweep.confirm.sequential`` with its Haybittle–Peto looks and futility stop on a trials table, the
  recommendation of ``sweep.report.ranking.confirmed_choice`` and the verdict of ``sweep.report.verdict``)
  on random orders of those seeds: per plan, the rate of "helped" (the A/A rate on the two null pairs,
  the power on the real gain), how often the penalty is recommended, the futility stops, the paired
  seeds and the confirmation epochs. It also trains the baseline and ``HELPS`` on one fixed split (the
  sweep's own) at the same seeds, and prints how often a 95% interval from 5 paired seeds covers the
  gain over splits and seeds (the mean over all N per-split pairs), with and without a split per seed.

``python -m sweep.bench fidelity [--configs 16] [--epochs 25] [--rungs 5,20]``
  Trains the article's 8 configs plus seeded draws from the default space to the full budget,
  recording validation accuracy every epoch. At each rung it reports Spearman's rank correlation
  (``scipy.stats.spearmanr``) between the order there and the order at the full budget, and which
  configs that an ASHA-like rule would stop there (all but the top 1/reduction_factor) finish in the
  top 3, without and with sparing a trial that keeps pace with the baseline (``scheduler.spare_within_se``).

Both write JSON and Markdown to ``--out`` and print their table. Benchmarks, not tests: calibration
trains 6 x N trials (about 40 minutes on 2 cores with digits at N = 20), fidelity 5-10 minutes.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from sweep.bench.search import ARTICLE_GRID, _key, _settings
from sweep.search.searcher import BASELINE_CONFIG as BASELINE
from trainables import names

NO_OP = {names.REGULARIZER: names.L2, names.PLACEMENT: names.BIAS, names.LAMBDA: 1e-5}
#: The penalty whose power is measured: +0.84 pp on the search benchmark's split (issue 31).
HELPS = {names.REGULARIZER: names.L2, names.PLACEMENT: names.ACTIVITY, names.LAMBDA: 0.01}
#: Confirmation plans compared, as (search.confirm_seeds, search.confirm_max_seeds); the default first.
PLANS = ((None, None), (4, 4), (4, 6), (8, 8))
#: Paired seeds of the coverage comparison's intervals.
COVERAGE_SEEDS = 5


def _final(data: Any, config: dict[str, Any], epochs: int, seed: int, history: list[float] | None = None,
           split: int | None = None) -> dict:
    from trainables.trainable import run_trial

    def report(metrics: dict[str, float], ckpt: Any) -> None:
        if history is not None:
            history.append(float(metrics[names.VAL_ACCURACY]))

    config = {**config, **({names.SPLIT_SEED: split} if split is not None else {})}
    return run_trial(config, data, _settings(epochs, seed, 2), report=report)


@dataclass
class Replayed:
    """One replay of the shipped rule."""

    helped: bool
    recommended: bool
    """The penalty was recommended (its estimated gain above 0)."""
    futile: bool
    seeds: int
    """Paired seeds trained when the race ended."""


def replay(base: Mapping[int, float], cand: Mapping[int, float], looks: tuple[int, ...], confidence: float = 0.95,
           penalty: Mapping[str, Any] = HELPS) -> Replayed:
    """The shipped rule on one ordering of seeds: ``base`` and ``cand`` (seed -> test accuracy, in the order
    the rounds would train them) go into a trials table round by round; the race looks after each round,
    then the recommendation and the verdict are made from the table, as ``sweep.runner`` does."""
    from sweep.common.labels import config_label
    from sweep.config.schema import SearchConfig
    from sweep.confirm.sequential import Race
    from sweep.report import ranking
    from sweep.report.summary import TrialRecord, trials_table
    from sweep.report.verdict import make_verdict
    from sweep.stats.sequential import FUTILE

    seeds = list(base)[: looks[-1]]
    base_row = pd.Series({names.REGULARIZER: names.NONE, names.PLACEMENT: None, names.LAMBDA: None,
                          names.L1_RATIO: None})
    cand_row = pd.Series({names.L1_RATIO: None, **penalty})
    race = Race(base_row, [cand_row], confidence, looks)
    records: list[TrialRecord] = []
    trained = 0
    for n in looks:
        for seed in seeds[trained:n]:
            for config, value in ((base_row, base[seed]), (cand_row, cand[seed])):
                clean = {k: v for k, v in config.items() if v is not None}
                records.append(TrialRecord(
                    trial=f"{config_label(config)}-{seed}", config={**clean, names.SEED: seed},
                    metrics={names.VAL_ACCURACY: value, names.TEST_ACCURACY: value, names.EPOCH: 1,
                             names.SPARSITY: 0.0, names.FINISHED: 1.0, names.COLLAPSED: 0.0, names.DIVERGED: 0.0},
                    error=False, phase=names.PHASE_CONFIRM, seed=seed))
        trained = n
        if race.look(trials_table(records)):
            break
    table = trials_table(records)
    choice = ranking.confirmed_choice(table, confidence)
    assert choice is not None
    verdict = make_verdict(table, ranking.config_stats(table), choice.recommended, choice.best_penalized,
                           SearchConfig(confidence=confidence), claims=race.claims)
    claim = race.claims[config_label(cand_row)]
    return Replayed(verdict.helped, choice.recommended[names.REGULARIZER] != names.NONE,
                    claim.left.startswith(FUTILE), trained)


def replay_rates(base: Mapping[int, float], cand: Mapping[int, float], looks: tuple[int, ...], resamples: int,
                 rng: np.random.Generator) -> dict[str, float]:
    """``replay`` on ``resamples`` random orders of the seeds: the rates of "helped", of the penalty
    recommended and of futility stops, and the mean paired seeds."""
    runs = []
    for _ in range(resamples):
        order = [int(s) for s in rng.permutation(sorted(base))]
        runs.append(replay({s: base[s] for s in order}, {s: cand[s] for s in order}, looks))
    return {"helped": float(np.mean([r.helped for r in runs])),
            "recommended": float(np.mean([r.recommended for r in runs])),
            "futile": float(np.mean([r.futile for r in runs])),
            "mean_paired_seeds": float(np.mean([r.seeds for r in runs]))}


def coverage(base: Mapping[int, float], cand: Mapping[int, float], target: float, n: int, resamples: int,
             rng: np.random.Generator, confidence: float = 0.95) -> float:
    """How often Student's t interval of the paired gain from ``n`` random seeds covers ``target``."""
    from sweep.stats.paired import paired_difference

    seeds = sorted(base)
    hits = 0
    for _ in range(resamples):
        pick = [int(s) for s in rng.choice(seeds, size=n, replace=False)]
        d = paired_difference({s: cand[s] for s in pick}, {s: base[s] for s in pick}, confidence)
        hits += bool(d.low <= target <= d.high) if d.measured else 0
    return hits / resamples


#: The accuracies the bench trains, by seed, as calibration.json keeps them.
ACCURACIES = ("none", "no_op", "none_other_seed", "helps", "none_fixed_split", "helps_fixed_split")


def _train(args: argparse.Namespace) -> tuple[dict[int, float], ...]:
    """Test accuracy by seed: on each seed's own split the baseline, the no-op, the baseline at another
    weight seed and ``HELPS``; on the fixed split the baseline and ``HELPS``."""
    from trainables.data.load import load_dataset
    from trainables.data.types import DataSpec

    data = load_dataset(DataSpec(name=args.data))
    base, noop, other, helps, fixed_base, fixed_helps = {}, {}, {}, {}, {}, {}
    none = {names.REGULARIZER: names.NONE}
    for seed in range(1, args.seeds + 1):
        base[seed] = float(_final(data, none, args.epochs, seed, split=seed)[names.TEST_ACCURACY])
        noop[seed] = float(_final(data, NO_OP, args.epochs, seed, split=seed)[names.TEST_ACCURACY])
        other[seed] = float(_final(data, none, args.epochs, seed + args.seeds, split=seed)[names.TEST_ACCURACY])
        helps[seed] = float(_final(data, HELPS, args.epochs, seed, split=seed)[names.TEST_ACCURACY])
        fixed_base[seed] = float(_final(data, none, args.epochs, seed)[names.TEST_ACCURACY])
        fixed_helps[seed] = float(_final(data, HELPS, args.epochs, seed)[names.TEST_ACCURACY])
        print(f"bench: seed {seed} (own split): none {base[seed]:.4f}, no-op {noop[seed]:.4f}, none at seed "
              f"{seed + args.seeds} {other[seed]:.4f}, {_key(HELPS)} {helps[seed]:.4f}; fixed split: none "
              f"{fixed_base[seed]:.4f}, {_key(HELPS)} {fixed_helps[seed]:.4f}", flush=True)
    return base, noop, other, helps, fixed_base, fixed_helps


def bench_calibration(args: argparse.Namespace) -> int:
    """The shipped rule's A/A rate, power and recommendation on real digits trials, and coverage."""
    from sweep.config.schema import SearchConfig
    from sweep.stats.sequential import Plan, haybittle_peto

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if args.from_results:  # replay the rule on accuracies already trained
        saved = json.loads(Path(args.from_results).read_text())["accuracies"]
        base, noop, other, helps, fixed_base, fixed_helps = ({int(s): v for s, v in saved[k].items()} for k in ACCURACIES)
        args.seeds = len(base)
    else:
        base, noop, other, helps, fixed_base, fixed_helps = _train(args)
    accuracies = dict(zip(ACCURACIES, (base, noop, other, helps, fixed_base, fixed_helps), strict=True))
    rng = np.random.default_rng(0)
    defaults = SearchConfig()
    rows = []
    for confirm_seeds, most in PLANS:
        plan = Plan.from_search(confirm_seeds or defaults.confirm_seeds, most or defaults.confirm_max_seeds)
        looks = tuple(n for n in plan.looks if n <= args.seeds)
        if not looks:  # a plan that needs more seeds than were trained
            continue
        label = ("default " if confirm_seeds is None else "") + "looks " + ",".join(map(str, looks))
        row: dict[str, Any] = {"plan": label, "last_p": round(haybittle_peto(looks, 0.025).final_p, 4)}
        for pair, cand in (("no-op", noop), ("self", other), ("helps", helps)):
            rates = replay_rates(base, cand, looks, args.resamples, rng)
            row[f"{pair}_helped"] = rates["helped"]
            if pair == "helps":
                row["helps_recommended"] = rates["recommended"]
                row["helps_futile"] = rates["futile"]
                row["helps_epochs"] = round(2 * args.epochs * rates["mean_paired_seeds"], 1)
            if pair == "self":
                row["null_futile"] = rates["futile"]
                row["null_recommended"] = rates["recommended"]
                row["null_epochs"] = round(2 * args.epochs * rates["mean_paired_seeds"], 1)
        rows.append(row)
    gains = {s: helps[s] - base[s] for s in base}
    fixed = {s: fixed_helps[s] - fixed_base[s] for s in base}
    target = float(np.mean(list(gains.values())))
    n = min(COVERAGE_SEEDS, args.seeds)
    cover = {"target_gain_pp": 100 * target, "paired_seeds": n,
             "coverage_own_splits": coverage(base, helps, target, n, args.resamples, rng),
             "coverage_fixed_split": coverage(fixed_base, fixed_helps, target, n, args.resamples, rng),
             "sd_own_splits_pp": 100 * float(np.std(list(gains.values()), ddof=1)),
             "sd_fixed_split_pp": 100 * float(np.std(list(fixed.values()), ddof=1)),
             "mean_fixed_split_pp": 100 * float(np.mean(list(fixed.values())))}
    table = pd.DataFrame(rows)
    meta = {"data": args.data, "epochs": args.epochs, "seeds": args.seeds, "resamples": args.resamples,
            "no_op": NO_OP, "helps": HELPS, "coverage": cover,
            "helps_differences_pp": [round(100 * gains[s], 3) for s in sorted(base)],
            "fixed_split_differences_pp": [round(100 * fixed[s], 3) for s in sorted(base)],
            "no_op_differences_pp": [round(100 * (noop[s] - base[s]), 3) for s in sorted(base)],
            "self_differences_pp": [round(100 * (other[s] - base[s]), 3) for s in sorted(base)]}
    (out / "calibration.json").write_text(json.dumps({**meta, "rows": rows, "accuracies": accuracies}, indent=2))
    (out / "calibration.md").write_text(table.to_markdown(index=False) + "\n\n"
                                        + pd.DataFrame([cover]).to_markdown(index=False))
    print(table.to_string(index=False))
    print(pd.DataFrame([cover]).to_string(index=False))
    for key in ("helps_differences_pp", "fixed_split_differences_pp", "no_op_differences_pp", "self_differences_pp"):
        print(f"bench: {key}: {meta[key]}")
    return 0


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
    cal.add_argument("--resamples", type=int, default=500)
    cal.add_argument("--data", default="digits", choices=("digits", "emnist"))
    cal.add_argument("--from-results", default=None, help="a calibration.json whose accuracies to replay, no training")
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
