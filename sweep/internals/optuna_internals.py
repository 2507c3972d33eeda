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
        # one suggestion asks several times, with different states: each view changes only when a trial finishes
        which, now = (tuple(states or ()), deepcopy), (len(trials), trials[-1].number)
        views = self._cache.setdefault("views", {})
        if views.get(which, (None,))[0] != now:
            views[which] = (now, self._best_of(which, trials[:-self._recent]) + trials[-self._recent:])
        return views[which][1]

    def _best_of(self, which: tuple, older: list) -> list:
        """The ``best`` best completed trials of ``older``, in trial order. Kept as a heap that takes
        each finished trial once: a scan that scores every older trial at every call makes each
        suggestion cost time in proportion to the study, and a sweep the square of it."""
        seen, heap = self._cache.setdefault("best", {}).setdefault(which, (set(), []))
        sign = -1.0 if self._study.direction == optuna.study.StudyDirection.MINIMIZE else 1.0
        for t in older:
            if t.number in seen or not t.state.is_finished():
                continue
            seen.add(t.number)
            if t.state == TrialState.COMPLETE and t.values:
                entry = (sign * t.values[0], -t.number, t)  # ties: the earlier trial ranks first, as nlargest does
                if len(heap) < self._best:
                    heapq.heappush(heap, entry)
                elif heap and entry[:2] > heap[0][:2]:
                    heapq.heapreplace(heap, entry)
        return sorted((t for _, _, t in heap), key=lambda t: t.number)
