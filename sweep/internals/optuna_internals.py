"""The reach into Optuna's private internals, in one place, pinned by ``tests/test_optuna_internals.py``.

**How TPE reads the trials.** ``TPESampler`` fits its model to the trials it gets from the study's
private ``Study._get_trials`` (Optuna has no public hook for "model these trials"). The windowed TPE
(``sweep.search.windowed_tpe``) hands the sampler a view of the study whose ``_get_trials`` returns the
window. If an Optuna upgrade reads trials another way, the window silently stops applying: the pinning
test checks both the method and that the window still changes what TPE suggests.
"""

from __future__ import annotations

import heapq
from typing import Any

import optuna
from optuna.trial import TrialState

#: The private ``optuna.study.Study`` method through which ``TPESampler`` reads the finished trials.
TRIALS_READER = "_get_trials"


class WindowedStudy:
    """The study as TPE's model-building sees it: every attribute is the study's, but its finished
    trials are the ``recent`` most recent plus the ``best`` best of the others."""

    def __init__(self, study: Any, recent: int, best: int, cache: dict) -> None:
        self._study = study
        self._recent = recent
        self._best = best
        self._cache = cache

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = True, states: Any = None, use_cache: bool = False) -> list:
        trials = getattr(self._study, TRIALS_READER)(deepcopy=deepcopy, states=states, use_cache=use_cache)
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
