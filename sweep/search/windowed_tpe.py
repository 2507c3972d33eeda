"""TPE whose cost per suggestion stays flat in the trial count.

Optuna's TPE fits its Parzen estimators to every finished trial, so each suggestion costs time in
proportion to the trials so far, and a sweep of n trials costs n^2. ``WindowedTPESampler`` shows TPE
the ``recent`` most recent finished trials plus the ``best`` best of all the others: the good region
is never forgotten, and the model keeps up with what the search does now. Up to ``recent + best``
finished trials it is exactly Optuna's TPE.
"""

from __future__ import annotations

from typing import Any

import optuna

from sweep.internals.optuna_internals import WindowedStudy

#: Finished trials TPE sees beyond which the window applies (recent ones, then the best of the rest).
RECENT_TRIALS = 300
BEST_TRIALS = 50


class WindowedTPESampler(optuna.samplers.TPESampler):
    """``TPESampler`` that models at most ``recent + best`` finished trials (single objective)."""

    def __init__(self, *args: Any, recent: int = RECENT_TRIALS, best: int = BEST_TRIALS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._recent = recent
        self._best = best
        self._window: dict = {}

    def _view(self, study: Any) -> WindowedStudy:
        return WindowedStudy(study, self._recent, self._best, self._window)

    def __getstate__(self) -> dict:
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__.copy()
        state = dict(state)
        state["_window"] = {}  # the cache holds trials of the live study; rebuilt after unpickling
        return state

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict:
        """The grouped search space, grown from the windowed trials: Optuna adds every finished
        trial's distributions again at each suggestion, and what it has added once stays."""
        if len(study.directions) > 1:
            return super().infer_relative_search_space(study, trial)
        return super().infer_relative_search_space(self._view(study), trial)

    def sample_relative(self, study: Any, trial: Any, search_space: dict) -> dict:
        """TPE's joint proposal, modelled on the windowed trials."""
        if len(study.directions) > 1:
            return super().sample_relative(study, trial, search_space)
        return super().sample_relative(self._view(study), trial, search_space)

    def sample_independent(self, study: Any, trial: Any, param_name: str, param_distribution: Any) -> Any:
        """TPE's proposal for a parameter outside the joint space, modelled on the windowed trials."""
        if len(study.directions) > 1:
            return super().sample_independent(study, trial, param_name, param_distribution)
        return super().sample_independent(self._view(study), trial, param_name, param_distribution)
