"""The data behind report.html (``sweep.report.html_report``): parameter importance ranks the one
parameter that drives the objective first, the learning curves hold one line per trial, the rungs are
ASHA's own, and the page embeds its charts and plotly.js (self-contained)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sweep.report.html_report import (REPORT_HTML, asha_rungs, best_so_far, importances, learning_curves,
                                      rebuilt_study, write_html)
from sweep.report.summary import TrialRecord, trials_table
from trainables import names


def _table(n: int = 40, seed: int = 0) -> pd.DataFrame:
    """Completed penalized search trials whose val_accuracy depends on λ alone (plus tiny noise)."""
    rng = np.random.default_rng(seed)
    lam = 10 ** rng.uniform(-5, -1, n)
    rows = pd.DataFrame({
        names.COL_TRIAL: [f"t{i:03d}" for i in range(n)], names.COL_PHASE: names.PHASE_SEARCH,
        names.COL_STATE: names.STATE_COMPLETED, names.REGULARIZER: rng.choice([names.L1, names.L2], n),
        names.PLACEMENT: rng.choice([names.KERNEL, names.ACTIVITY], n), names.LAMBDA: lam,
        names.VAL_ACCURACY: 0.9 - 0.05 * (np.log10(lam) + 3) ** 2 + rng.normal(0, 1e-4, n),
        names.TEST_ACCURACY: 0.9, names.SPARSITY: rng.uniform(0, 0.5, n), names.COL_EPOCHS: 5,
    })
    baseline = rows.iloc[:1].assign(**{names.COL_TRIAL: "base", names.REGULARIZER: names.NONE,
                                       names.PLACEMENT: None, names.LAMBDA: np.nan})
    return pd.concat([baseline, rows], ignore_index=True)


def test_the_one_parameter_that_drives_the_objective_ranks_first():
    study = rebuilt_study(_table())
    assert len(study.trials) == 40, "the baseline (no placement, no λ) is left out of the study"
    found, _, evaluator = importances(study)
    assert evaluator in ("PedAnova", "Fanova"), evaluator
    assert max(found, key=found.get) == names.LAMBDA, found
    assert found[names.LAMBDA] > 0.5, found


def test_the_importance_chart_says_how_many_trials_it_rests_on_and_below_20_that_it_is_a_hint():
    from sweep.report.html_report import importance_title

    assert "5 completed penalized search trials" in importance_title("PedAnova", 5)
    assert "a hint only: fewer than 20 trials" in importance_title("PedAnova", 5)
    assert "hint" not in importance_title("PedAnova", 40)


def test_too_few_trials_say_why_instead_of_ranking():
    found, evaluator, why = importances(rebuilt_study(_table(n=3)))
    assert found == {} and evaluator is None and "too few" in why


def test_the_learning_curves_hold_one_line_per_trial_with_a_curve():
    table = _table(n=6)
    curves = {t: [0.5, 0.7, 0.8] for t in table[names.COL_TRIAL][:5]}  # one trial reported nothing
    fig = learning_curves(table, curves, rungs=[1, 2])
    assert len(fig.data) == 5
    assert all(list(trace.y) == [0.5, 0.7, 0.8] for trace in fig.data)
    assert len(fig.layout.shapes) == 2  # the rungs


def test_best_so_far_follows_the_order_the_trials_were_created_not_the_ranked_table():
    """The table is ranked best first; the chart drew it in that order, so its line started at the best
    trial and stayed flat. Created in the order a (0.90), b (0.95, 10 epochs), c (collapsed), d (0.97)."""
    def record(trial: str, val: float, epochs: int, collapsed: bool = False) -> TrialRecord:
        return TrialRecord(trial=trial, config={names.REGULARIZER: names.NONE}, error=False,
                           metrics={names.VAL_ACCURACY: val, names.EPOCH: epochs, names.FINISHED: 1.0,
                                    names.COLLAPSED: float(collapsed)})

    records = [record("a", 0.90, 5), record("b", 0.95, 10), record("c", 0.10, 5, collapsed=True), record("d", 0.97, 5)]
    table = trials_table(records)
    assert list(table[names.COL_TRIAL]) == ["d", "b", "a", "c"], "ranked: completed by val_accuracy, then collapsed"
    fig = best_so_far(table, [r.trial for r in records])
    assert list(fig.data[0].x) == [5, 15, 20, 25]
    assert list(fig.data[0].y) == pytest.approx([0.90, 0.95, 0.95, 0.97])


@pytest.mark.parametrize("grace, factor, max_t", [(5, 4, 25), (1, 2, 8), (2, 3, 30), (5, 4, 5)])
def test_the_rungs_are_the_ones_ray_asha_compares_at(grace, factor, max_t):
    from ray.tune.schedulers import ASHAScheduler

    from sweep.internals.ray_internals import asha_rung_milestones

    asha = ASHAScheduler(time_attr="training_iteration", max_t=max_t, grace_period=grace, reduction_factor=factor)
    ray_rungs = [m for m in asha_rung_milestones(asha) if m < max_t]
    assert asha_rungs(grace, factor, max_t) == ray_rungs


def test_the_page_is_self_contained_with_every_chart(tmp_path):
    table = _table(n=12)
    curves = {t: [0.5, 0.8] for t in table[names.COL_TRIAL]}
    path = write_html(tmp_path, "unit", "verdict: keep <none>", table, curves, [1], ["t001"], ["t001"])
    page = path.read_text()
    assert path.name == REPORT_HTML and "verdict: keep &lt;none&gt;" in page
    assert page.count('class="plotly-graph-div"') == 6  # parallel coordinates, importance, curves, best so far, front, pruning
    assert "<script src=" not in page and len(page) > 1_000_000, "plotly.js is embedded, not fetched"


def test_the_verdict_renders_as_html_and_the_tables_hold_every_trial_and_config(tmp_path):
    """The page showed verdict.md as one <pre> block: '# Verdict of sweep', '## ...' and the code
    fences as text."""
    import re

    from sweep.report.verdict import Verdict

    table = _table(n=12)
    section = ("accuracy/sparsity Pareto front (every |w| below train.sparsity_threshold set to 0):\n"
               "  t001 L1 on kernel, λ=0.001 (seed 0)   test 0.9100  removable 0.9000\n"
               "  t002 no regularization (seed 0)       test 0.9500  removable 0.5000\n"
               "compressible model (the sparsest within 1 pp of the best val_accuracy 0.9600): t001 a*b")
    markdown = Verdict("Keep no regularization.", caveats=["too few trials of L1"]).markdown(
        "unit", {"Accuracy and sparsity": section})
    page = write_html(tmp_path, "unit", markdown, table, {}, [1], ["t001"], []).read_text()
    assert "<h1>Verdict of sweep unit</h1>" in page and "<h2>Accuracy and sparsity</h2>" in page
    assert page.count("<h1>") == 1, "one title: the verdict's"
    assert "<li>too few trials of L1</li>" in page
    # a section reads as paragraphs and a list, not as one block of terminal text
    assert "<pre>" not in page.split("<h2>Accuracy and sparsity</h2>")[1].split("</section>")[0]
    assert "<p>accuracy/sparsity Pareto front (every |w| below train.sparsity_threshold set to 0):</p>" in page
    assert "<li>t001 L1 on kernel, λ=0.001 (seed 0)   test 0.9100  removable 0.9000</li>" in page
    assert "val_accuracy 0.9600): t001 a*b</p>" in page, "a star is text, not emphasis"
    text = re.sub(r"<script.*?</script>", "", page, flags=re.S)
    text = re.sub(r"<[^>]+>", "", text)
    assert "```" not in text and "# Verdict" not in text and "## " not in text
    trials = page.split("class='sortable trials'")[1].split("</table>")[0]
    assert trials.count("<tr>") == len(table) + 1, "a header and one row per trial"
    configs = page.split("class='sortable configs'")[1].split("</table>")[0]
    assert configs.count("<tr>") == table[names.COL_TRIAL].nunique() + 1, "every trial here is its own config"
    assert "data-sort=" in trials and "table.sortable th" in page


def test_each_trial_links_to_its_mlflow_run_where_one_is_known():
    from sweep.report.html_tables import trials_table_html
    from sweep.report.summary import TrialRecord, trials_table
    from sweep.tracking.ui_view import run_url

    metrics = {"val_accuracy": 0.95, "test_accuracy": 0.94, "epoch": 25, "finished": 1.0, "diverged": 0.0,
               "collapsed": 0.0}
    table = trials_table([TrialRecord("a1", {"regularizer": "none"}, metrics, False, "search", 0),
                          TrialRecord("b2", {"regularizer": "none"}, metrics, False, "confirm", 1)])
    url = run_url("http://127.0.0.1:5000/", "7", "abc123")
    assert url == "http://127.0.0.1:5000/#/experiments/7/runs/abc123"
    page = trials_table_html(table, {"a1": url})
    assert f"<a href='{url}' target='_blank' rel='noopener'>a1</a>" in page
    assert ">b2</td>" in page, "a trial whose run is not known stays plain text"
    assert "<a " not in trials_table_html(table)
