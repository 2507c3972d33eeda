"""The answer layer's own logic on hand-made inputs: the Pareto front and the compressible model,
the data profile and its rule of thumb, the article preset and the comparison with the article."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sweep.report.article import PUBLISHED, comparison
from sweep.config.compose import load_config
from sweep.search.priors import prior_points, profile_inputs, rule_of_thumb, rule_outcome
from sweep.report.pareto import pareto_answer
from sweep.report.ranking import config_stats
from sweep.search.phase import grid_size
from sweep.search.space import start_points
from sweep.search.searcher import BASELINE_CONFIG
from trainables import names


def trials(rows: list[tuple]) -> pd.DataFrame:
    """(trial, state, regularizer, val, test, sparsity) rows as the summary table has them."""
    return pd.DataFrame([{names.COL_TRIAL: t, names.COL_STATE: s, names.REGULARIZER: r, names.PLACEMENT: "kernel",
                          names.LAMBDA: 0.01, names.VAL_ACCURACY: v, names.TEST_ACCURACY: a, names.SPARSITY: sp}
                         for t, s, r, v, a, sp in rows])


def test_the_front_keeps_exactly_the_undominated_completed_trials_and_the_compressible_one_is_sparsest_in_tolerance():
    table = trials([
        ("a", names.STATE_COMPLETED, "none", 0.95, 0.90, 0.01),
        ("b", names.STATE_COMPLETED, "l2", 0.945, 0.89, 0.20),   # on the front: sparser
        ("c", names.STATE_COMPLETED, "l1", 0.93, 0.85, 0.60),    # on the front: sparsest
        ("d", names.STATE_COMPLETED, "l2", 0.94, 0.88, 0.10),    # dominated by b
        ("e", names.STATE_COMPLETED, "l1", 0.941, 0.90, 0.01),   # ties a on both: neither dominates
        ("f", names.STATE_STOPPED, "l1", 0.99, 0.99, 0.99),      # not completed: never on the front
    ])
    answer = pareto_answer(table, tolerance=0.01)
    assert sorted(answer.trials) == ["a", "b", "c", "e"]
    assert list(answer.front[names.COL_TRIAL])[-1] == "c", "sorted by sparsity"
    assert answer.best_val == 0.95
    assert answer.compressible[names.COL_TRIAL] == "b", "within 1 pp of 0.95 on validation, the sparsest"
    assert pareto_answer(table, tolerance=0.05).compressible[names.COL_TRIAL] == "c"
    assert pareto_answer(table, tolerance=0.0).compressible[names.COL_TRIAL] == "a"
    assert pareto_answer(trials([]).reindex(columns=table.columns), 0.01).front.empty


def test_the_profile_measures_sparsity_and_correlation_on_known_arrays():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(400, 1))
    correlated = np.hstack([base, 2 * base, -base + 1])  # |r| = 1 for every pair
    p = profile_inputs(correlated)
    assert p.input_sparsity == 0.0 and p.mean_abs_correlation == pytest.approx(1.0)
    assert (p.suggestion, p.n_samples, p.n_features) == (names.L2, 400, 3)
    sparse = np.zeros((100, 4, 5))
    sparse[:, 0, :] = rng.normal(size=(100, 5))  # a quarter nonzero, the rest always zero (constant, left out)
    p = profile_inputs(sparse)
    assert p.input_sparsity == pytest.approx(0.75) and p.n_features == 20 and p.suggestion == names.L2
    independent = rng.normal(size=(5000, 6))
    p = profile_inputs(independent)
    assert p.mean_abs_correlation < 0.05 and p.suggestion == names.L1
    assert p.params()["profile.suggestion"] == names.L1 and "profile.samples_per_feature" in p.params()
    assert rule_of_thumb(0.3, 0.2)[0] == names.ELASTIC_NET


def test_the_prior_seeds_the_first_points_and_the_summary_says_whether_the_rule_held():
    p = profile_inputs(np.random.default_rng(0).normal(size=(500, 4)))  # dense, uncorrelated: L1
    points = prior_points(p, [names.KERNEL_BIAS])
    assert {pt[names.REGULARIZER] for pt in points} == {names.L1} and len(points) == 3
    search = load_config(["search.prior=auto"]).search
    assert start_points(search, points)[:3] == points, "the suggestion comes first"
    held = rule_outcome(p, names.L1, helped=True)
    assert held.startswith("The sweep bears out the rule of thumb: L1") and "not tested against each other" in held, \
        "the penalties' order is not tested: no 'confirms'"
    assert "does not bear out" in rule_outcome(p, names.L2, helped=True)
    assert "not tested against each other" in rule_outcome(p, names.L2, helped=True), "no claim beyond the test made"
    assert "neither confirms nor refutes" in rule_outcome(p, names.L1, helped=False)
    assert "no penalty is proven to beat" in rule_outcome(p, names.L1, helped=False), "unproven is not worse"


def _key(config: dict) -> tuple:
    return tuple(sorted((k, float(v) if isinstance(v, (int, float)) else str(v)) for k, v in config.items()
                        if v is not None))


def test_preset_article_composes_into_exactly_the_articles_eight_configurations():
    cfg = load_config(["preset=article", "data=digits"])
    assert cfg.search.grid and cfg.scheduler.name == "fifo" and cfg.train.epochs == 25
    assert cfg.search.confirm_seeds == 0 and grid_size(cfg) == 8 and cfg.train.collapse_after == 0
    configs = [dict(BASELINE_CONFIG)] + start_points(cfg.search)
    assert sorted(map(_key, configs)) == sorted(_key(config) for _, config, _ in PUBLISHED)
    assert len(configs) == 8


def test_the_comparison_sets_our_figures_beside_the_articles_and_compares_the_ranking():
    rows = []
    ours = {"no regularization": 0.95, "L2 on activity": 0.96, "L2 on activity, λ=0.1": 0.94,
            "L1 on activity": 0.5}
    for label, config, _ in PUBLISHED:
        if label in ours:
            rows.append({names.COL_TRIAL: label, names.COL_STATE: names.STATE_COMPLETED,
                         names.REGULARIZER: config[names.REGULARIZER], names.PLACEMENT: config.get(names.PLACEMENT),
                         names.LAMBDA: config.get(names.LAMBDA), names.L1_RATIO: config.get(names.L1_RATIO),
                         names.TEST_ACCURACY: ours[label], names.VAL_ACCURACY: ours[label], names.SPARSITY: 0.0})
    table = config_stats(pd.DataFrame(rows))  # the per-config table the summary hands over
    text = comparison(table, "digits")
    assert "L2 on activity                   article 0.8901" in text and "ours 0.9600" in text
    assert "ranking: ours L2 on activity > no regularization > L2 on activity, λ=0.1" in text
    assert "different" in text and "1 of 1 of those runs are below" in text
    assert "against the published numbers" not in text, "numbers are compared on EMNIST only"
    assert "+7.7 pp" in comparison(table, "emnist")  # no regularization: 0.95 - 0.8729
    assert comparison(table.iloc[:1], "digits") is None, "too few of the article's configs"
