"""Multi-objective early stopping: ASHA's rungs, decided by non-dominated sorting (MOASHA's rule).

With ``search.objectives=[val_accuracy, sparsity]`` a rung that ranks on validation accuracy alone
stops the sparse trials first: L1 trades a little accuracy for many removable weights, so it sits
low on accuracy at every rung, and the front that the sweep reports is left with L2 trials only.
MOASHA (Schmucker et al., 2021, as in Syne Tune) keeps ASHA's asynchronous rungs and changes only
the ranking at a rung:

1. the trials recorded at the rung are sorted into non-dominated fronts over every objective (front 0
   is the rung's Pareto front, front 1 the front of the rest, ...);
2. within a front, a trial with a larger crowding distance (NSGA-II's: how much of each objective's
   range its neighbours on the front leave empty; the extremes count as infinite) ranks first;
3. a trial continues when its rank is in the top ``1/reduction_factor`` of the rung, or when it is on
   the rung's front: a trial on the current front is never stopped.

A trial at chance level reports 0 removable weights (``trainables.metrics.removable``), so any trial
above chance dominates it and it still stops. The baseline is never stopped (the control must be
measured at full budget). ``rung_decision`` is the whole rule as a pure function, unit-tested on
hand-made rung tables; the scheduler is Ray Tune's public ``FIFOScheduler`` with rungs kept here.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

Point = Sequence[float]


def dominates(a: Point, b: Point) -> bool:
    """True when ``a`` is at least as good as ``b`` in every objective and better in one (maximized)."""
    return all(x >= y for x, y in zip(a, b, strict=True)) and any(x > y for x, y in zip(a, b, strict=True))


def nondominated_fronts(points: Mapping[str, Point]) -> list[list[str]]:
    """The keys of ``points`` sorted into fronts: front 0 is dominated by none, front 1 only by front 0, ..."""
    left = dict(points)
    fronts: list[list[str]] = []
    while left:
        front = [k for k, p in left.items() if not any(dominates(q, p) for j, q in left.items() if j != k)]
        fronts.append(sorted(front))
        for k in front:
            del left[k]
    return fronts


def crowding_distance(points: Mapping[str, Point]) -> dict[str, float]:
    """NSGA-II's crowding distance of each point of one front: per objective, the gap between its two
    neighbours over the objective's range, summed; the extremes of each objective get infinity. Trials
    at the same point count once: the first key gets the point's distance and the others 0 (two
    duplicates at an extreme both took infinity, and crowded out a trial with room of its own)."""
    first: dict[tuple[float, ...], str] = {}
    for key in sorted(points):
        first.setdefault(tuple(points[key]), key)
    distinct = _distinct_crowding({key: points[key] for key in first.values()})
    return {key: distinct.get(key, 0.0) for key in points}


def _distinct_crowding(points: Mapping[str, Point]) -> dict[str, float]:
    keys = list(points)
    distance = {k: 0.0 for k in keys}
    if len(keys) <= 2:
        return {k: math.inf for k in keys}
    for m in range(len(next(iter(points.values())))):
        order = sorted(keys, key=lambda k: points[k][m])
        low, high = points[order[0]][m], points[order[-1]][m]
        distance[order[0]] = distance[order[-1]] = math.inf
        if high == low:
            continue
        for before, key, after in zip(order, order[1:], order[2:]):
            distance[key] += (points[after][m] - points[before][m]) / (high - low)
    return distance


def rung_order(points: Mapping[str, Point]) -> list[str]:
    """Every key of the rung, best first: by front, then by decreasing crowding distance, then by key."""
    order: list[str] = []
    for front in nondominated_fronts(points):
        crowd = crowding_distance({k: points[k] for k in front})
        order += sorted(front, key=lambda k: (-crowd[k], k))
    return order


def rung_decision(points: Mapping[str, Point], trial: str, reduction_factor: float) -> bool:
    """True when ``trial`` continues past the rung that recorded ``points`` (its own point included):
    it is on the rung's front, or ranked in the top ``1/reduction_factor`` of the rung. The front test
    is one pass over the rung; the full order is sorted only for a trial off the front."""
    if not any(dominates(q, points[trial]) for k, q in points.items() if k != trial):
        return True
    keep = max(1, math.ceil(len(points) / reduction_factor))
    return rung_order(points).index(trial) < keep


def hypervolume_2d(points: Sequence[Point], reference: Point) -> float:
    """The area that ``points`` (two maximized objectives) dominate above ``reference``: the front's
    hypervolume, the usual single figure of a front's quality."""
    above = sorted({(float(x), float(y)) for x, y in points if x > reference[0] and y > reference[1]}, reverse=True)
    area, top = 0.0, reference[1]
    for x, y in above:  # by decreasing x: each point adds the strip above the best y so far
        if y > top:
            area += (x - reference[0]) * (y - top)
            top = y
    return area


class MultiObjectiveASHA(FIFOScheduler):
    """ASHA's rungs at ``grace_period * reduction_factor**k`` below ``max_t``, each decided by
    ``rung_decision`` over ``metrics`` (all maximized). ``keep(config)`` marks trials never stopped (a module-level function: Tune pickles the scheduler)."""

    def __init__(self, metrics: Sequence[str], max_t: int, grace_period: int, reduction_factor: float,
                 keep: Callable[[dict[str, Any]], bool] | None = None,
                 time_attr: str = "training_iteration") -> None:
        super().__init__()
        self.metrics = list(metrics)
        self.max_t = int(max_t)
        self.reduction_factor = float(reduction_factor)
        self.time_attr = time_attr
        self.keep = keep
        self.milestones: list[int] = []
        t = float(grace_period)
        while t < max_t:
            self.milestones.append(int(t))
            t *= reduction_factor
        self.rungs: dict[int, dict[str, tuple[float, ...]]] = {m: {} for m in self.milestones}
        self.stopped = 0

    def set_search_properties(self, metric: Any, mode: Any, **spec: Any) -> bool:
        return True  # the metrics are this scheduler's own; Tune's single metric is for reporting

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        now = result.get(self.time_attr)
        if now is None:
            return TrialScheduler.CONTINUE
        if now >= self.max_t:
            return TrialScheduler.STOP
        action = TrialScheduler.CONTINUE
        for milestone in reversed(self.milestones):  # the highest rung reached, as ASHA
            recorded = self.rungs[milestone]
            if now < milestone or trial.trial_id in recorded:
                continue
            point = self._point(result)
            if point is None:
                continue
            kept = self.keep is not None and self.keep(trial.config)
            if not all(math.isfinite(v) for v in point):  # worse than any finite point: it stops, unrecorded
                if not kept:
                    action = TrialScheduler.STOP
                    self.stopped += 1
                break
            recorded[trial.trial_id] = point
            if not kept and not rung_decision(recorded, trial.trial_id, self.reduction_factor):
                action = TrialScheduler.STOP
                self.stopped += 1
            break
        return action

    def _point(self, result: dict) -> tuple[float, ...] | None:
        try:
            point = tuple(float(result[m]) for m in self.metrics)
        except (KeyError, TypeError, ValueError):
            return None
        return point

    def debug_string(self) -> str:
        return (f"MultiObjectiveASHA on {self.metrics}: rungs {self.milestones}, "
                f"{sum(len(r) for r in self.rungs.values())} results recorded, {self.stopped} stopped")
