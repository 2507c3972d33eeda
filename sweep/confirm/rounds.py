"""The confirmation phase: the baseline and the race's candidates at fresh paired seeds, in rounds.

Each round is one Ray experiment (``<name>-confirm``, then ``<name>-confirm-2``, ...), so a killed
launcher resumes in the middle of the sequence: finished rounds are restored from Ray's state, and
since every decision is a function of the results, the same rounds follow. The statistics are in
``sweep.confirm.sequential``; this module runs the rounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import pandas as pd

from sweep.report import ranking

from sweep.report import summary

from sweep.search import tuner
from sweep.config.schema import SearchConfig, SweepConfig
from sweep.confirm.sequential import Race
from sweep.stats.sequential import Plan
from trainables import names


@dataclass
class ConfirmOutcome:
    """What the confirmation phase trained and why it stopped."""

    grids: list[Any] = field(default_factory=list)
    """Ray's results, one per round."""
    race: Optional[Race] = None
    plan: Optional[Plan] = None
    paired_seeds: int = 0
    """Fresh paired seeds the baseline trained with (the most any candidate has)."""
    stopped: str = "no confirmation"
    """Why no further round ran, in words."""

    def line(self) -> str:
        """``confirmation: 3 paired seeds of at most 5, 2 rounds (decided)``."""
        if self.plan is None or not self.grids:
            return f"confirmation: none ({self.stopped})"
        return (f"confirmation: {self.paired_seeds} paired seed{'s' if self.paired_seeds != 1 else ''} of at most "
                f"{self.plan.looks[-1]}, {len(self.grids)} round{'s' if len(self.grids) != 1 else ''} ({self.stopped})")


def candidates(stats: pd.DataFrame, search: SearchConfig) -> tuple[Optional[pd.Series], list[pd.Series]]:
    """The baseline and the race's candidates: the best config of each regularizer x placement arm,
    best arms first, at most ``search.confirm_top``. A λ at the floor of the range (within a factor
    of 2 of ``search.lambda_low``) is a near no-op: it runs only when nothing else finished."""
    base = stats[stats[names.REGULARIZER] == names.NONE]
    penalized = stats[stats[names.REGULARIZER] != names.NONE]
    arms = penalized.drop_duplicates([names.REGULARIZER, names.PLACEMENT], keep="first")  # stats are ranked
    lam = pd.to_numeric(arms[names.LAMBDA], errors="coerce")
    effective = arms[~(lam <= 2.0 * search.lambda_low)]
    chosen = (effective if not effective.empty else arms).head(search.confirm_top)
    return (base.iloc[0] if not base.empty else None), [row for _, row in chosen.iterrows()]


def round_experiment(name: str, round_index: int) -> str:
    """The Ray experiment of round ``round_index`` (0-based); the first keeps the older single name."""
    first = tuner.confirm_name(name)
    return first if round_index == 0 else f"{first}-{round_index + 1}"


def affordable_plan(plan: Plan, configs: int, epochs: int, used: int, budget: int) -> Plan:
    """``plan`` cut to the looks whose rounds fit the epoch budget with every one of ``configs`` (the
    baseline and the candidates) still racing: the per-look level is calibrated for the looks that can
    happen, not for a plan the budget ends early (a 5-look level held to 4 looks spends less than its
    error rate and loses power). ``budget`` 0: no cap."""
    if not budget:
        return plan
    looks, spent = [], used
    for k, look in enumerate(plan.looks):
        spent += len(plan.new_seeds(k)) * configs * epochs
        if spent > budget:
            break
        looks.append(look)
    return Plan(tuple(looks))


def run_confirmation(cfg: SweepConfig, name: str, trainable: Any, search_records: list[summary.TrialRecord],
                     callbacks: list[Any], say: Callable[[str], None],
                     on_round: Callable[[int], None] = lambda n: None,
                     after_round: Callable[[], None] = lambda: None) -> ConfirmOutcome:
    """Train the rounds until the race is decided or the plan, cut to what the epoch budget affords
    (``affordable_plan``), runs out. ``on_round(n)`` is told each round's run count before it starts;
    ``after_round`` runs after each (the interrupt check)."""
    plan = Plan.from_search(cfg.search.confirm_seeds, cfg.search.confirm_max_seeds)
    if not plan.looks:
        return ConfirmOutcome(stopped="search.confirm_seeds is below 2")
    records = list(search_records)
    table = summary.trials_table(records)
    base, chosen = candidates(ranking.config_stats(table), cfg.search)
    if base is None or not chosen:
        return ConfirmOutcome(plan=plan, stopped="no completed baseline and penalized config to compare")
    budget = tuner.budget(cfg)
    planned = plan
    plan = affordable_plan(plan, 1 + len(chosen), cfg.train.epochs,
                           int(pd.to_numeric(table[names.COL_EPOCHS], errors="coerce").sum()), budget)
    race = Race(base, chosen, cfg.search.confidence, plan.looks, cfg.search.futility)
    stopped = (f"undecided at the last look, {plan.looks[-1] if plan.looks else 0} paired seeds "
               f"(search.confirm_max_seeds={cfg.search.confirm_max_seeds})"
               if plan.looks == planned.looks else
               f"undecided at {plan.looks[-1] if plan.looks else 0} paired seeds, all that search.budget_epochs="
               f"{budget} affords (search.confirm_max_seeds={cfg.search.confirm_max_seeds} would pair "
               f"{planned.looks[-1]})")
    out = ConfirmOutcome(race=race, plan=plan, stopped=stopped)
    if not plan.looks:
        out.stopped = (f"search.budget_epochs={budget}: the first confirmation round needs "
                       f"{len(planned.new_seeds(0)) * (1 + len(chosen)) * cfg.train.epochs} epochs, more than is left")
        return out
    for k in range(len(plan.looks)):
        racing = race.open()
        runs = round_runs(cfg, plan.new_seeds(k), [base, *racing])
        on_round(len(runs))
        if k == 0:
            split = "each on its own split" if cfg.search.confirm_splits else "all on the sweep's own split"
            say(f"confirming {len(racing)} candidate(s) against no regularization on paired seeds, {split}: "
                f"{plan_words(race)}")
        say(f"confirmation round {k + 1}: {len(runs)} runs x {cfg.train.epochs} epochs "
            f"(seed{'s' if len(plan.new_seeds(k)) > 1 else ''} "
            f"{', '.join(str(cfg.train.seed + o) for o in plan.new_seeds(k))})")
        grid = _fit_round(cfg, name, k, trainable, runs, callbacks)
        out.grids.append(grid)
        out.paired_seeds = plan.looks[k]
        after_round()
        records += summary.records_from_results(grid, names.PHASE_CONFIRM, cfg.train.seed)
        table = summary.trials_table(records)  # once per round: the race's look
        if race.look(table):
            out.stopped = ("decided" if any(c.helped for c in race.claims.values())
                           else "every candidate left the race")
            break
    for label, why in race.dropped.items():
        say(f"confirmation: {label} left the race: {why}")
    return out


def round_runs(cfg: SweepConfig, offsets: list[int], rows: list[Any]) -> list[dict[str, Any]]:
    """The trial configs of one round: each row's config at each seed ``train.seed + offset``, on that
    seed's own split when ``search.confirm_splits`` (the baseline and the candidates share it)."""
    return [{**summary.best_config(row), names.SEED: cfg.train.seed + offset,
             **({names.SPLIT_SEED: cfg.train.seed + offset} if cfg.search.confirm_splits else {})}
            for offset in offsets for row in rows]


def plan_words(race: Race) -> str:
    """The looks, their levels and the futility rule, as the console states them before the first round."""
    bound = race.boundary(len(race.candidates))
    looks = ", ".join(str(n) for n in race.looks)
    if len(race.looks) == 1:
        return (f"one look at {looks} paired seeds, a one-sided test at {100 * bound.final_p:.2f}% "
                f"(\"helped\" is wrong at most {100 * race.alpha:g}% of the time)")
    return (f"looks at {looks} paired seeds; an interim look claims a gain only at one-sided p < {bound.interim_p:g}, "
            f"the last at p < {bound.final_p:.4f}, so that all looks together claim a false gain at most "
            f"{100 * race.alpha:g}% of the time (Haybittle-Peto)"
            + (f"; a candidate whose chance to show a gain by the last look falls below {100 * race.futility:g}% "
               "stops (search.futility)" if race.futility else ""))


def _fit_round(cfg: SweepConfig, name: str, round_index: int, trainable: Any, runs: list[dict[str, Any]],
               callbacks: list[Any]) -> Any:
    """Train one round's runs, or continue (or just read back) them after a crash."""
    from ray import tune

    experiment = round_experiment(name, round_index)
    if cfg.resume and tune.Tuner.can_restore(tuner.experiment_path(cfg, experiment)):
        return tuner.restore_tuner(cfg, experiment, trainable).fit()
    return tuner.build_grid_tuner(cfg, name, trainable, runs, callbacks, experiment).fit()
