"""The epoch budget: no search trial and no confirmation round starts that could take the sweep past
``search.budget_epochs``; the search gets all but the first confirmation round's share."""

from __future__ import annotations

from sweep.config.compose import load_config
from sweep.config.schema import SearchConfig
from sweep.search.searcher import PruneAwareOptunaSearch
from sweep.search.space import RegularizationSpace, make_sampler
from sweep.search.tuner import budget, search_budget
from trainables import names


def _searcher(epoch_budget: int, epochs: int = 25) -> PruneAwareOptunaSearch:
    space = RegularizationSpace(SearchConfig())
    return PruneAwareOptunaSearch(space=space, metric=names.OBJECTIVE, mode="max", sampler=make_sampler(0),
                                  study_name="b", with_baseline=True, searchable=True, epoch_budget=epoch_budget,
                                  epochs_per_trial=epochs)


def _report(s: PruneAwareOptunaSearch, trial: str, epoch: int, finished: bool) -> None:
    result = {names.OBJECTIVE: 0.9, names.EPOCH: epoch, names.FINISHED: float(finished), names.DIVERGED: 0.0,
              "training_iteration": epoch}
    s.on_trial_result(trial, result)
    s.on_trial_complete(trial, result)


def test_no_trial_starts_that_could_pass_the_search_budget():
    s = _searcher(epoch_budget=100)
    assert all(isinstance(s.suggest(f"t{i}"), dict) for i in range(4)), "4 x 25 = 100 fits"
    assert s.committed_epochs() == 100
    assert s.suggest("t4") is None, "a fifth could train 125: it waits while the others run"
    _report(s, "t1", 5, finished=False)  # ASHA stopped it after 5 epochs: 20 are free again
    assert s.committed_epochs() == 80 and s.suggest("t4") is None, "105 would still pass 100"
    _report(s, "t2", 5, finished=False)
    assert s.committed_epochs() == 60 and isinstance(s.suggest("t4"), dict)
    assert s.suggest("t5") is None
    for trial in ("t0", "t3", "t4"):
        _report(s, trial, 25, finished=True)
    assert s.committed_epochs() == 85
    assert s.suggest("t5") == s.FINISHED, "nothing runs and nothing fits: the search is over"


def test_without_a_budget_the_search_is_not_capped():
    s = _searcher(epoch_budget=0)
    assert all(isinstance(s.suggest(f"t{i}"), dict) for i in range(12))


def test_the_default_budget_is_the_searchs_cost_without_early_stopping_plus_the_first_round():
    cfg = load_config(["search.num_samples=16", "train.epochs=25"])
    assert budget(cfg) == 400 + 2 * 3 * 25, "baseline + 1 candidate at 3 fresh seeds"
    assert search_budget(cfg) == 400, "the default never cuts the search"
    assert search_budget(load_config(["search.budget_epochs=300"])) == 300 - 150
    assert budget(load_config(["search.num_samples=16", "train.epochs=25", "search.confirm_seeds=3"])) == 550, \
        "a first round planned at 2 fresh seeds trains 3: no look before 3"
    assert budget(load_config(["search.budget_epochs=0"])) == 0 and search_budget(load_config(["search.budget_epochs=0"])) == 0
    assert budget(load_config(["search.budget_epochs=250"])) == 250


def test_a_grid_runs_only_what_the_budget_affords_the_baseline_first():
    """``preset=article data=digits search.budget_epochs=60`` trained all 8 runs, 200 epochs."""
    from sweep.search.tuner import grid_configs, search_trials

    capped = load_config(["preset=article", "data=digits", "search.budget_epochs=60"])
    runs = grid_configs(capped)
    assert len(runs) == 2 and runs[0][names.REGULARIZER] == names.NONE, "60 // 25: the baseline and one point"
    assert search_trials(capped) == 8 and len(grid_configs(load_config(["preset=article", "data=digits"]))) == 8


def test_a_grids_default_budget_counts_its_runs_not_num_samples():
    from sweep.search.tuner import search_trials

    cfg = load_config(["search.grid=true", "search.article_points=false", "search.num_samples=16", "train.epochs=10",
                       "search.confirm_seeds=0",
                       "search.points_to_evaluate=[{regularizer: l2, placement: activity, lambda: 0.01}]"])
    assert search_trials(cfg) == 2 and budget(cfg) == 20, "the baseline and one point, not 16 trials"


def test_the_plan_is_cut_to_what_the_budget_affords_before_its_level_is_set():
    """The benchmark stopped at 4 paired seeds under a level set for 5 looks (spent less than its error
    rate, and lost power): the looks the budget cannot pay for are not planned, and the last look that
    can happen tests at nearly the whole level."""
    from sweep.confirm.rounds import affordable_plan
    from sweep.stats.sequential import Plan, haybittle_peto

    plan = Plan.from_search(4, 7)  # looks at 3, 4, 5, 6 paired seeds
    # the baseline and one candidate, 25 epochs a run: round 1 costs 150, each later round 50
    assert affordable_plan(plan, 2, 25, used=200, budget=500).looks == (3, 4, 5, 6), "200 + 150 + 3 x 50 = 500"
    cut = affordable_plan(plan, 2, 25, used=250, budget=500)
    assert cut.looks == (3, 4, 5), "250 + 150 + 2 x 50 = 500; a fourth round would pass it"
    assert haybittle_peto(cut.looks, 0.025).final_p != haybittle_peto(plan.looks, 0.025).final_p
    assert haybittle_peto(cut.looks, 0.025).looks[-1] == 5, "the last look is the last the budget pays for"
    assert affordable_plan(plan, 2, 25, used=400, budget=500).looks == (), "not even the first round"
    assert affordable_plan(plan, 3, 25, used=0, budget=0).looks == plan.looks, "0: no cap"


def test_each_confirmation_seed_carries_its_own_split_unless_turned_off():
    import pandas as pd

    from sweep.confirm.rounds import round_runs

    rows = [pd.Series({names.REGULARIZER: names.NONE, names.PLACEMENT: None, names.LAMBDA: None, names.L1_RATIO: None}),
            pd.Series({names.REGULARIZER: names.L2, names.PLACEMENT: names.ACTIVITY, names.LAMBDA: 0.01,
                       names.L1_RATIO: None})]
    runs = round_runs(load_config(["train.seed=10"]), [1, 2], rows)
    assert [(r[names.REGULARIZER], r[names.SEED], r[names.SPLIT_SEED]) for r in runs] == [
        (names.NONE, 11, 11), (names.L2, 11, 11), (names.NONE, 12, 12), (names.L2, 12, 12)], "paired: one split a seed"
    fixed = round_runs(load_config(["search.confirm_splits=false"]), [1], rows)
    assert all(names.SPLIT_SEED not in r for r in fixed), "false: the sweep's own split"
