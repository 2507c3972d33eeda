"""Accuracy and sparsity together: does multi-objective early stopping reach the sparse L1 answers?

``python -m sweep.bench sparsity`` (also ``python -m sweep.bench search --objectives
val_accuracy,sparsity``) runs, for each search seed, two multi-objective sweeps
(``search.objectives=[val_accuracy,sparsity]``) with the same budget, one after another:

- **val-only ASHA**: the rule before MOASHA: rungs rank on validation accuracy alone
  (``scheduler.multi_objective=false``) and no descent below a collapse (``search.collapse_descent=0``);
- **MOASHA**: the defaults: rungs decided by non-dominated sorting over both objectives, and an L1 or
  elastic-net collapse at lambda followed by the same penalty at lambda/5.

Confirmation is off in both (``search.confirm_seeds=0``): it concerns the accuracy verdict, not the
front. For each run it reads ``results.csv`` and prints whether the front holds an L1 or elastic-net
trial on the kernel with at least ``KERNEL_L1_MIN`` of its weights removable, the front's hypervolume
(test accuracy x removable fraction over completed trials, reference point at chance accuracy and 0
removed), the epochs trained, and the verdict's answer to the article's L1 claim; then the
hypervolume and epoch ratios of MOASHA to val-only ASHA per seed, with their median and range.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from sweep.bench.launcher import launcher_env
from sweep.config.schema import SearchConfig
from sweep.report.l1_claim import L1_SIDE, l1_answer
from sweep.report.pareto import pareto_answer
from sweep.search.moasha import hypervolume_2d
from trainables import names
from trainables.data.builtin import EMNIST_CLASSES

#: The variants compared, with their overrides.
VARIANTS: dict[str, tuple[str, ...]] = {
    "val-only ASHA": ("scheduler.multi_objective=false", "search.collapse_descent=0"),
    "MOASHA": (),
}
#: The front must hold a kernel L1 or elastic-net trial with at least this much removable.
KERNEL_L1_MIN = 0.20
KERNEL_PLACEMENTS = (names.KERNEL, names.KERNEL_BIAS)
TOLERANCE = 0.01
#: Classes of each dataset the bench runs on: chance accuracy is the hypervolume's reference point.
CLASSES = {"digits": 10, "emnist": EMNIST_CLASSES}


def add_parser(sub: Any) -> None:
    """Register ``sparsity`` on the bench command line."""
    p = sub.add_parser("sparsity", help="multi-objective sweeps: MOASHA against val-only ASHA at the same budget")
    add_arguments(p)
    p.set_defaults(run=run)


def add_arguments(p: argparse.ArgumentParser, defaults: bool = True) -> None:
    if defaults:
        p.add_argument("--seeds", default="0,1,2", help="search seeds, comma-separated")
        p.add_argument("--data", default="digits", choices=("digits", "emnist"))
        p.add_argument("--epochs", type=int, default=25)
        p.add_argument("--out", default="bench-results")
    p.add_argument("--mo-samples", type=int, default=24, help="trials per multi-objective sweep")
    p.add_argument("--from-results", action="store_true",
                   help="re-read the sweeps already under --out instead of running them (the table only)")


def run(args: argparse.Namespace) -> int:
    """Both variants at every seed; print and save the table."""
    out = Path(args.out).resolve() / "sparsity"
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        for variant, overrides in VARIANTS.items():
            if getattr(args, "from_results", False):
                rows.append(_read(_workdir(out, variant, seed), seed, variant, CLASSES[args.data]))
                continue
            print(f"bench: {variant} seed {seed} ...", flush=True)
            rows.append(_sweep(args, seed, variant, overrides, out))
            print(f"bench: {variant} seed {seed}: {rows[-1]}", flush=True)
    table = pd.DataFrame(rows)
    (out / "sparsity.json").write_text(json.dumps(rows, indent=1, default=str))
    print(table.drop(columns=["front"]).to_string(index=False))
    print(ratios(table))
    return 0


def _workdir(out: Path, variant: str, seed: int) -> Path:
    return out / ("moasha" if variant == "MOASHA" else "asha") / f"seed-{seed}"


def _read(workdir: Path, seed: int, variant: str, n_classes: int, wall: float = float("nan")) -> dict[str, Any]:
    table = pd.read_csv(workdir / "outputs" / f"mo-{seed}" / "results.csv")
    return {"seed": seed, "variant": variant, "wall_s": wall, **front_figures(table, n_classes)}


def _sweep(args: argparse.Namespace, seed: int, variant: str, overrides: Sequence[str], out: Path) -> dict[str, Any]:
    workdir = _workdir(out, variant, seed)
    workdir.mkdir(parents=True, exist_ok=True)
    name = f"mo-{seed}"
    cmd = [sys.executable, "-m", "sweep.launch", f"data={args.data}", f"search.num_samples={args.mo_samples}",
           f"train.epochs={args.epochs}", f"search.seed={seed}", f"name={name}",
           "search.objectives=[val_accuracy,sparsity]", "search.confirm_seeds=0",
           f"search.accuracy_tolerance={TOLERANCE}", *overrides]
    start = time.perf_counter()
    with open(workdir / f"{name}.log", "w") as log:
        proc = subprocess.run(cmd, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, env=launcher_env())
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"regsweep exited {proc.returncode}; see {workdir / f'{name}.log'}")
    return _read(workdir, seed, variant, CLASSES[args.data], round(wall))


def front_figures(table: pd.DataFrame, n_classes: int) -> dict[str, Any]:
    """The row of one sweep: the kernel-L1 target, the hypervolume, the epochs and the L1 answer."""
    front = pareto_answer(table, TOLERANCE).front
    kernel_l1 = front[front[names.REGULARIZER].isin(L1_SIDE) & front[names.PLACEMENT].isin(KERNEL_PLACEMENTS)
                      & (pd.to_numeric(front[names.REMOVABLE], errors="coerce") >= KERNEL_L1_MIN)]
    done = table[table[names.COL_STATE] == names.STATE_COMPLETED]
    points = done[[names.TEST_ACCURACY, names.REMOVABLE]].apply(pd.to_numeric, errors="coerce").dropna()
    answer = l1_answer(table, TOLERANCE)
    return {
        "kernel_l1_on_front": not kernel_l1.empty,
        "best_kernel_l1": (f"{kernel_l1.iloc[-1][names.REGULARIZER]} λ={float(kernel_l1.iloc[-1][names.LAMBDA]):.2g} "
                           f"{float(kernel_l1.iloc[-1][names.REMOVABLE]):.0%}") if not kernel_l1.empty else "-",
        "hypervolume": round(hypervolume_2d(points.to_numpy().tolist(), (1.0 / n_classes, 0.0)), 4),
        "epochs": int(pd.to_numeric(table[names.COL_EPOCHS], errors="coerce").sum()),
        "completed_l1": int(done[names.REGULARIZER].isin(L1_SIDE).sum()),
        "l1_claim": answer.outcome if answer is not None else "-",
        **descent_figures(table, set(front[names.COL_TRIAL].astype(str))),
        "front": [f"{r[names.REGULARIZER]}/{r[names.PLACEMENT]} λ={float(r[names.LAMBDA]):.2g}"
                  if r[names.REGULARIZER] != names.NONE else "none" for _, r in front.iterrows()],
    }


def descent_figures(table: pd.DataFrame, front: set[str]) -> dict[str, Any]:
    """The trials a collapse sent below it: same penalty and placement at a collapsed lambda over
    the default ``search.collapse_descent``; how many ran, completed, and sit on the front."""
    descent = SearchConfig().collapse_descent
    lam = pd.to_numeric(table[names.LAMBDA], errors="coerce")
    collapsed = table[table[names.COL_STATE] == names.STATE_COLLAPSED]
    below = pd.Series(False, index=table.index)
    for _, c in collapsed.iterrows():
        below |= ((table[names.REGULARIZER] == c[names.REGULARIZER]) & (table[names.PLACEMENT] == c[names.PLACEMENT])
                  & ((lam - float(c[names.LAMBDA]) / descent).abs() <= 1e-9 * float(c[names.LAMBDA])))
    rows = table[below]
    return {"descent_trials": len(rows),
            "descent_completed": int((rows[names.COL_STATE] == names.STATE_COMPLETED).sum()),
            "descent_on_front": int(rows[names.COL_TRIAL].astype(str).isin(front).sum())}


def ratios(table: pd.DataFrame) -> str:
    """MOASHA against val-only ASHA: hypervolume and epochs per seed, the median and range, and counts."""
    lines = []
    for metric in ("hypervolume", "epochs"):
        per_seed = []
        for seed, rows in table.groupby("seed"):
            by = dict(zip(rows["variant"], rows[metric]))
            if by.get("val-only ASHA"):
                per_seed.append(by["MOASHA"] / by["val-only ASHA"])
        if per_seed:
            lines.append(f"{metric} MOASHA / val-only ASHA: median {statistics.median(per_seed):.2f}x "
                         f"(range {min(per_seed):.2f}-{max(per_seed):.2f}, seeds {len(per_seed)})")
    for variant, rows in table.groupby("variant", sort=False):
        definite = int(rows["l1_claim"].isin(("holds", "fails")).sum())
        lines.append(f"{variant}: kernel L1/elastic net >= {KERNEL_L1_MIN:.0%} removable on the front in "
                     f"{int(rows['kernel_l1_on_front'].sum())} of {len(rows)} seeds; L1 claim definite in "
                     f"{definite} of {len(rows)} ({', '.join(rows['l1_claim'])})")
    return "\n".join(lines)
