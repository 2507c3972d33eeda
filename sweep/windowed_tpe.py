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

    def __init__(self, study: Any, recent: int, best: int) -> None:
        self._study = study
        self._recent = recent
        self._best = best

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = True, states: Any = None, use_cache: bool = False) -> list:
        trials = self._study._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)
        if len(trials) <= self._recent + self._best:
            return trials
        older, recent = trials[:-self._recent], trials[-self._recent:]
        sign = -1.0 if self._study.direction == optuna.study.StudyDirection.MINIMIZE else 1.0
        scored = [t for t in older if t.state == TrialState.COMPLETE and t.values]
        best = heapq.nlargest(self._best, scored, key=lambda t: sign * t.values[0])
        return sorted(best, key=lambda t: t.number) + recent


class WindowedTPESampler(optuna.samplers.TPESampler):
    """``TPESampler`` that models at most ``recent + best`` finished trials (single objective)."""

    def __init__(self, *args: Any, recent: int = RECENT_TRIALS, best: int = BEST_TRIALS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._recent = recent
        self._best = best

    def _sample(self, study: Any, trial: Any, search_space: dict) -> dict:
        if len(study.directions) > 1:
            return super()._sample(study, trial, search_space)
        return super()._sample(_WindowedStudy(study, self._recent, self._best), trial, search_space)
