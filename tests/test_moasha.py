"""MOASHA's rung rule on hand-made rung tables, its 2-D hypervolume, and the scheduler's actions."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from ray.tune.schedulers import TrialScheduler

from sweep.search.moasha import (MultiObjectiveASHA, crowding_distance, dominates, hypervolume_2d,
                                 nondominated_fronts, rung_decision, rung_order)
from sweep.search.searcher import is_baseline

# (val_accuracy, removable) at one rung: l2 is accurate and dense, l1 sparse and a little less accurate,
# "mid" is dominated by l2, "chance" is a collapsed trial (0 removable by definition)
RUNG = {"l2": (0.97, 0.05), "l1": (0.955, 0.60), "en": (0.96, 0.30), "mid": (0.95, 0.04), "chance": (0.10, 0.0),
        "none": (0.965, 0.02)}


def test_dominance_and_fronts():
    assert dominates((0.97, 0.05), (0.95, 0.04))
    assert not dominates((0.97, 0.05), (0.97, 0.05))
    assert not dominates((0.97, 0.05), (0.955, 0.60))
    fronts = nondominated_fronts(RUNG)
    assert fronts[0] == ["en", "l1", "l2"]
    assert fronts[1] == ["mid", "none"]
    assert fronts[2] == ["chance"]


def test_crowding_distance_by_hand():
    front = {"a": (0.0, 1.0), "b": (0.5, 0.6), "c": (1.0, 0.0)}
    d = crowding_distance(front)
    assert math.isinf(d["a"]) and math.isinf(d["c"])
    assert d["b"] == pytest.approx((1.0 - 0.0) / 1.0 + (1.0 - 0.0) / 1.0)
    four = {"a": (0.0, 1.0), "b": (0.2, 0.9), "c": (0.7, 0.3), "d": (1.0, 0.0)}
    d4 = crowding_distance(four)
    assert d4["b"] == pytest.approx(0.7 + 0.7) and d4["c"] == pytest.approx(0.8 + 0.9)
    assert rung_order(four)[:2] == ["a", "d"] and rung_order(four)[2:] == ["c", "b"]


def test_trials_at_the_same_point_count_once_in_the_crowding():
    """Two trials at one extreme both took infinity, and ranked ahead of a trial with room of its own."""
    front = {"a": (0.0, 1.0), "a2": (0.0, 1.0), "b": (0.5, 0.6), "c": (1.0, 0.0)}
    d = crowding_distance(front)
    assert math.isinf(d["a"]) and d["a2"] == 0.0 and math.isinf(d["c"])
    assert d["b"] == pytest.approx(2.0), "as on the front without the duplicate"
    assert rung_order(front) == ["a", "c", "b", "a2"]
    assert crowding_distance({"x": (0.5, 0.5), "y": (0.5, 0.5)}) == {"x": math.inf, "y": 0.0}


def test_a_non_finite_result_at_a_rung_stops_unrecorded():
    """A diverged trial (NaN accuracy) was neither recorded nor stopped, so it trained on to the end."""
    s = MultiObjectiveASHA(["val_accuracy", "removable"], max_t=25, grace_period=5, reduction_factor=4,
                           keep=is_baseline)
    r = lambda t, acc, rem: {"training_iteration": t, "val_accuracy": acc, "removable": rem}  # noqa: E731
    assert s.on_trial_result(None, _trial("a"), r(5, 0.9, 0.1)) == TrialScheduler.CONTINUE
    assert s.on_trial_result(None, _trial("nan"), r(5, float("nan"), 0.2)) == TrialScheduler.STOP
    assert s.on_trial_result(None, _trial("inf"), r(5, 0.95, float("inf"))) == TrialScheduler.STOP
    assert set(s.rungs[5]) == {"a"} and s.stopped == 2
    kept = s.on_trial_result(None, _trial("base", {"regularizer": "none"}), r(5, float("nan"), 0.0))
    assert kept == TrialScheduler.CONTINUE, "the baseline is never stopped"


def test_a_trial_on_the_rung_front_is_never_stopped_even_past_the_quantile():
    # 6 trials, reduction factor 4: the top ceil(6/4) = 2 continue, and every front trial too
    assert all(rung_decision(RUNG, t, 4) for t in ("l2", "l1", "en"))
    assert not rung_decision(RUNG, "mid", 4)
    assert not rung_decision(RUNG, "none", 4)


def test_a_collapsed_trial_stops_whatever_its_sparsity_claims():
    # at chance the removable fraction is 0, so every trial above chance dominates it
    assert not rung_decision(RUNG, "chance", 2)


def test_the_first_trial_at_a_rung_continues_and_one_objective_is_ashas_top_quantile():
    assert rung_decision({"a": (0.5, 0.1)}, "a", 4)
    one = {str(i): (v,) for i, v in enumerate([0.1, 0.5, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4])}
    # with one objective the front is the best trial, and the top quarter of 8 is ASHA's 2
    assert nondominated_fronts(one)[0] == ["2"]
    assert sorted(t for t in one if rung_decision(one, t, 4)) == ["2", "6"]


def test_hypervolume_2d_by_hand():
    ref = (0.1, 0.0)
    assert hypervolume_2d([(0.9, 0.5)], ref) == pytest.approx(0.8 * 0.5)
    # two points: 0.8*0.2 + (0.6-0.1)*(0.5-0.2)
    assert hypervolume_2d([(0.9, 0.2), (0.6, 0.5)], ref) == pytest.approx(0.8 * 0.2 + 0.5 * 0.3)
    assert hypervolume_2d([(0.9, 0.2), (0.6, 0.5), (0.5, 0.1), (0.05, 0.9)], ref) == pytest.approx(0.31)
    assert hypervolume_2d([], ref) == 0.0


def _trial(trial_id: str, config: dict | None = None) -> SimpleNamespace:
    return SimpleNamespace(trial_id=trial_id, config=config or {"regularizer": "l1"})


def test_scheduler_rungs_and_actions_on_a_hand_made_sequence():
    s = MultiObjectiveASHA(["val_accuracy", "removable"], max_t=25, grace_period=5, reduction_factor=4,
                           keep=is_baseline)
    assert s.milestones == [5, 20]
    cont, stop = TrialScheduler.CONTINUE, TrialScheduler.STOP
    r = lambda t, acc, rem: {"training_iteration": t, "val_accuracy": acc, "removable": rem}  # noqa: E731
    assert s.on_trial_result(None, _trial("a"), r(4, 0.9, 0.1)) == cont  # before the first rung
    assert s.on_trial_result(None, _trial("a"), r(5, 0.9, 0.1)) == cont  # first at the rung
    assert s.on_trial_result(None, _trial("b"), r(5, 0.8, 0.5)) == cont  # on the front (sparser)
    assert s.on_trial_result(None, _trial("c"), r(5, 0.7, 0.05)) == stop  # dominated by a, not in the top quarter
    assert s.on_trial_result(None, _trial("base", {"regularizer": "none"}), r(5, 0.1, 0.0)) == cont  # baseline kept
    assert s.on_trial_result(None, _trial("a"), r(6, 0.9, 0.1)) == cont  # recorded once per rung
    assert s.on_trial_result(None, _trial("a"), r(25, 0.9, 0.1)) == stop  # max_t
    assert set(s.rungs[5]) == {"a", "b", "c", "base"} and s.stopped == 1


def test_the_sweep_uses_moasha_with_two_objectives_and_ashas_rule_with_one():
    from sweep.config.compose import load_config as compose
    from sweep.search.tuner import make_asha

    two = make_asha(compose(["search.objectives=[val_accuracy,sparsity]"]))
    assert isinstance(two, MultiObjectiveASHA) and two.metrics == ["val_accuracy", "removable"]
    one = make_asha(compose([]))
    assert not isinstance(one, MultiObjectiveASHA)
    off = make_asha(compose(["search.objectives=[val_accuracy,sparsity]", "scheduler.multi_objective=false"]))
    assert not isinstance(off, MultiObjectiveASHA)


def test_a_sweep_saved_before_these_keys_resumes_under_the_defaults():
    from sweep.config.compose import load_config
    from sweep.fingerprint import first_difference, results_fingerprint

    current = results_fingerprint(load_config([]))
    added = ("scheduler.multi_objective", "search.collapse_descent", "train.removable_tolerance",
             "train.removable_every_epoch", "search.sampler", "scheduler.spare_within_se")
    saved = {k: v for k, v in current.items() if k not in added}
    assert first_difference(saved, current) is None
    changed = results_fingerprint(load_config(["search.collapse_descent=0"]))
    assert first_difference(saved, changed) == "search.collapse_descent"
    assert current["search.sampler"] == "tpe", "the sampler is part of the results fingerprint"
    assert first_difference(saved, {**current, "search.sampler": "gp"}) == "search.sampler"
