"""TPE whose cost per suggestion stays flat in the trial count.

Optuna's TPE fits its Parzen estimators to every finished trial, so each suggestion costs time in
proportion to the trials so far, and a sweep of n trials costs n^2. ``WindowedTPESampler`` shows TPE
the ``recent`` most recent finished trials plus the ``best`` best of all the others: the good region
is never forgotten, and the model keeps up with what the search does now. Up to ``recent + best``
finished trials it is exactly Optuna's TPE.
"""

from __future__ import annotations

import heapq
from typing import Any

import optuna
from optuna.trial import TrialState

#: Finished trials TPE sees beyond which the window applies (recent ones, then the best of the rest).
RECENT_TRIALS = 300
BEST_TRIALS = 50


class _WindowedStudy:
    """The study as TPE's model-building sees it: every attribute is the study's, but its finished
    trials are windowed."""

    def __init__(self, study: Any, recent: int, best: int, cache: dict) -> None:
        self._study = study
        self._recent = recent
        self._best = best
        self._cache = cache

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = True, states: Any = None, use_cache: bool = False) -> list:
        trials = self._study._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)
        if len(trials) <= self._recent + self._best:
            return trials
        # one suggestion asks several times: the window changes only when a trial finishes
        key = (tuple(states or ()), len(trials), trials[-1].number, deepcopy)
        if key not in self._cache:
            self._cache.clear()
            older, recent = trials[:-self._recent], trials[-self._recent:]
            sign = -1.0 if self._study.direction == optuna.study.StudyDirection.MINIMIZE else 1.0
            scored = [t for t in older if t.state == TrialState.COMPLETE and t.values]
            best = heapq.nlargest(self._best, scored, key=lambda t: sign * t.values[0])
            self._cache[key] = sorted(best, key=lambda t: t.number) + recent
        return self._cache[key]


class WindowedTPESampler(optuna.samplers.TPESampler):
    """``TPESampler`` that models at most ``recent + best`` finished trials (single objective)."""

    def __init__(self, *args: Any, recent: int = RECENT_TRIALS, best: int = BEST_TRIALS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._recent = recent
        self._best = best
        self._window: dict = {}

    def _view(self, study: Any) -> _WindowedStudy:
        return _WindowedStudy(study, self._recent, self._best, self._window)

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

    def _sample(self, study: Any, trial: Any, search_space: dict) -> dict:
        if len(study.directions) > 1:
            return super()._sample(study, trial, search_space)
        return super()._sample(self._view(study), trial, search_space)
