"""The article's L1 claim answered at equal accuracy, on hand-made trial tables."""

from __future__ import annotations

import pandas as pd

from sweep.report.l1_claim import CANNOT_TELL, FAILS, HOLDS, MARGIN, l1_answer, render
from trainables import names


def _row(trial, reg, val, removable, state=names.STATE_COMPLETED, placement=names.KERNEL_BIAS, lam=1e-4, ratio=None):
    return {names.COL_TRIAL: trial, names.COL_STATE: state, names.REGULARIZER: reg, names.PLACEMENT: placement,
            names.LAMBDA: lam, names.L1_RATIO: ratio, names.SEED: 0, names.VAL_ACCURACY: val,
            names.REMOVABLE: removable}


BASE = [_row("none", names.NONE, 0.970, 0.30), _row("l2a", names.L2, 0.972, 0.35), _row("l2b", names.L2, 0.955, 0.60)]


def test_the_claim_holds_when_an_l1_model_at_equal_accuracy_removes_clearly_more():
    table = pd.DataFrame(BASE + [_row("l1a", names.L1, 0.965, 0.80), _row("l1b", names.L1, 0.90, 0.97, lam=1e-3)])
    a = l1_answer(table, 0.01)
    assert a.outcome == HOLDS
    assert a.l1[names.COL_TRIAL] == "l1a", "the 97% model is 7 pp worse: not at equal accuracy"
    assert a.l2[names.COL_TRIAL] == "l2a", "the 60% L2 model is 1.7 pp worse"
    text = render(a, lambda r: str(r[names.COL_TRIAL]))
    assert "holds" in text and "80% of the weights removable" in text and "35%" in text and "+45 points" in text


def test_the_claim_fails_when_l1_removes_no_more_than_l2_or_never_reaches_the_accuracy():
    close = pd.DataFrame(BASE + [_row("l1a", names.L1, 0.965, 0.35 + MARGIN / 2),
                                 _row("l1b", names.ELASTIC_NET, 0.5, 0.9, lam=1e-3)])
    assert l1_answer(close, 0.01).outcome == FAILS
    far = pd.DataFrame(BASE + [_row("l1a", names.L1, 0.93, 0.9), _row("l1b", names.L1, 0.95, 0.8, lam=1e-3)])
    a = l1_answer(far, 0.01)
    assert a.outcome == FAILS and "none of the 2" in a.reason and "0.9500" in a.reason


def test_cannot_tell_with_too_few_l1_trials_finished_or_no_l2():
    stopped = pd.DataFrame(BASE + [_row("l1a", names.L1, 0.97, 0.9),
                                   _row("l1b", names.L1, 0.5, 0.0, state=names.STATE_STOPPED, lam=1e-3),
                                   _row("l1c", names.L1, 0.1, 0.0, state=names.STATE_COLLAPSED, lam=1e-2)])
    a = l1_answer(stopped, 0.01)
    assert a.outcome == CANNOT_TELL and "at 1 L1 strength (1 trial); it takes 2 L1 strengths, counting elastic net's λ × l1_ratio" in a.reason
    text = render(a, lambda r: str(r[names.COL_TRIAL]))
    assert "This sweep cannot tell whether the article's claim that L1 gives removable weights holds: L1 and" in text
    none_finished = pd.DataFrame(BASE + [_row("l1c", names.L1, 0.1, 0.0, state=names.STATE_COLLAPSED, lam=1e-2)])
    assert l1_answer(none_finished, 0.01).reason.startswith(
        "no L1 or elastic-net trial finished (completed above chance); it takes 2 L1 strengths")
    no_l2 = pd.DataFrame([BASE[0], _row("l1a", names.L1, 0.97, 0.9), _row("l1b", names.L1, 0.96, 0.9, lam=1e-3)])
    assert l1_answer(no_l2, 0.01).outcome == CANNOT_TELL
    assert l1_answer(pd.DataFrame([{k: v for k, v in BASE[0].items() if k != names.REMOVABLE}]), 0.01) is None


def test_two_trials_at_one_lambda_cannot_tell():
    """An earlier quick example: one L1 and one elastic-net trial on activity, both at λ=0.01, after 4 epochs,
    and the section said the claim "fails"."""
    one_lambda = pd.DataFrame(BASE + [_row("l1a", names.L1, 0.93, 0.3, lam=0.01),
                                      _row("en", names.ELASTIC_NET, 0.92, 0.3, lam=0.01, ratio=1.0)])
    a = l1_answer(one_lambda, 0.01)
    assert a.outcome == CANNOT_TELL and "at 1 L1 strength (2 trials); it takes 2" in a.reason


def test_elastic_net_counts_at_its_l1_strength_not_its_lambda():
    """Today's quick example: L1 on activity at λ=0.01 and elastic net on activity at λ=0.02, l1_ratio=0.5
    (Keras's L1L2(l1=0.01, l2=0.01)): two λ values but one L1 strength, and the section said "fails".
    At l1_ratio=0.25 the same λ is a second strength (0.005), and the claim is answered."""
    same = pd.DataFrame(BASE + [_row("l1a", names.L1, 0.25, 0.39, placement=names.ACTIVITY, lam=0.01),
                                _row("en", names.ELASTIC_NET, 0.25, 0.4, placement=names.ACTIVITY, lam=0.02, ratio=0.5)])
    a = l1_answer(same, 0.01)
    assert a.outcome == CANNOT_TELL and "at 1 L1 strength (2 trials" in a.reason
    other = same.copy()
    other.loc[other[names.COL_TRIAL] == "en", names.L1_RATIO] = 0.25
    assert l1_answer(other, 0.01).outcome == FAILS, "two L1 strengths, neither within 1 pp of the best"
    pure_l2 = same.copy()
    pure_l2.loc[pure_l2[names.COL_TRIAL] == "en", names.L1_RATIO] = 0.0
    assert l1_answer(pure_l2, 0.01).outcome == CANNOT_TELL, "l1_ratio=0 is L2: no second L1 strength"
