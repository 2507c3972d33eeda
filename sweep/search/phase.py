"""The search phase: the Tuner that runs it (new, or restored on resume) and what the budget left
undone."""

from __future__ import annotations

from typing import Any, Optional, Sequence

from sweep.config.schema import SweepConfig
from sweep.common.say import say
from sweep.search import tuner
from sweep.search.priors import DataProfile, prior_points
from trainables import names
from trainables.choices import Prior


def grid_size(cfg: SweepConfig) -> int:
    """How many search trials the sweep starts: the search's ``num_samples``, or the grid's runs that fit
    the epoch budget."""
    return len(tuner.grid_configs(cfg)) if cfg.search.grid else cfg.search.num_samples


def search_tuner(cfg: SweepConfig, name: str, trainable: Any, callbacks: list, resources: dict[str, Any],
                 gpus: float, profile: DataProfile, val_examples: int = 0) -> Any:
    """The Tuner of the search: restored from its saved state on resume, else built new (``val_examples``:
    the validation split's size, which sets how far behind the baseline a spared late bloomer may be)."""
    if cfg.resume:
        say(f"resuming sweep {name} from {tuner.experiment_path(cfg, name)}")
        return tuner.restore_tuner(cfg, name, trainable)
    say(f"sweep {name}: at most {grid_size(cfg)} search trials x {cfg.train.epochs} epochs (the baseline "
        f"included), scheduler {cfg.scheduler.name}, state in {tuner.experiment_path(cfg, name)}")
    concurrency = tuner.concurrent_trials(cfg, resources["cpus"], resources["gpus"], gpus)
    placements = [str(p) for p in cfg.search.placements]
    prior = prior_points(profile, placements) if cfg.search.prior == Prior.auto else None
    return tuner.build_tuner(cfg, name, trainable, callbacks, concurrency, prior, val_examples)


def budget_note(cfg: SweepConfig, results: Sequence[Any]) -> Optional[str]:
    """Why the search stopped starting trials: the epoch budget, or a settled answer (``search.patience``);
    None when every planned trial started."""
    planned = tuner.search_trials(cfg)
    left = planned - len(results)
    if left <= 0:
        return None
    trained = sum(int((r.metrics or {}).get(names.EPOCH) or 0) for r in results)
    share = tuner.search_budget(cfg)
    if share and trained + cfg.train.epochs > share:
        return (f"search: {left} of {planned} trials not started, since they could have taken the search "
                f"past its share of the epoch budget ({share} of search.budget_epochs={tuner.budget(cfg)})")
    if cfg.search.patience and not cfg.search.grid and len(cfg.search.objectives) == 1:
        return (f"search: settled after {len(results)} of {planned} trials ({trained} epochs): "
                f"{cfg.search.patience} trials in a row completed (the full budget, or collapsed or diverged) without "
                f"beating the best validation accuracy so far (Optuna's Terminator, search.patience="
                f"{cfg.search.patience}); the epochs it saved are left for confirmation")
    return None
