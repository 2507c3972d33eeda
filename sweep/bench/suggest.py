"""The searcher's time per suggestion offline, without Ray: what the TPE window and Optuna's own scans cost
as a study grows.

``python -m sweep.bench suggest [--trials 5000] [--block 1000]``

It asks the launcher's sampler (``sweep.search.space.make_sampler``) on the default space, tells each trial
at once (7 in 10 pruned, as ASHA stops most, the rest with a random value), and prints, per block of
trials, the median time of ask, suggest and tell over the block's last 200.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import time
from pathlib import Path
from typing import Any, Callable


def suggestion_times(trials: int, block: int, seed: int = 0, clock: Callable[[], float] = time.perf_counter
                     ) -> tuple[list[tuple[int, float]], Any]:
    """(trials so far, median ms per suggestion over the last 200 of the block) at the end of each block,
    and the study the suggestions went into."""
    import optuna

    from sweep.config.schema import SearchConfig
    from sweep.search.space import RegularizationSpace, make_sampler

    optuna.logging.set_verbosity(logging.WARNING)
    space = RegularizationSpace(SearchConfig())
    study = optuna.create_study(direction="maximize", sampler=make_sampler(seed))
    rng = random.Random(seed)
    times: list[float] = []
    rows = []
    for n in range(1, trials + 1):
        start = clock()
        trial = study.ask()
        space(trial)
        if rng.random() < 0.7:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, rng.random())
        times.append(clock() - start)
        if n % block == 0:
            rows.append((n, round(1000 * statistics.median(times[-min(200, block):]), 1)))
    return rows, study


def bench_suggest(args: argparse.Namespace) -> int:
    rows, _ = suggestion_times(args.trials, args.block)
    for n, ms in rows:
        print(f"{n:>7} trials: {ms} ms per suggestion")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "suggest.json").write_text(json.dumps({"trials": args.trials, "ms_by_block": rows}))
    return 0


def add_parser(sub: Any) -> None:
    """The ``suggest`` subcommand."""
    p = sub.add_parser("suggest", help="the searcher's time per suggestion offline as the study grows")
    p.add_argument("--trials", type=int, default=5000)
    p.add_argument("--block", type=int, default=1000)
    p.add_argument("--out", default="bench-results")
    p.set_defaults(run=bench_suggest)
