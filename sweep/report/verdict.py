"""The verdict: the sweep's answer in plain words, with how much to trust it.

Two things, kept apart. **The recommendation** is the config with the best estimated test accuracy on
the confirmation seeds alone (``sweep.report.ranking.confirmed_choice``): a penalty when its mean paired
gain over no regularization is above 0, else no regularization. **The claim** "helped" is one
pre-specified test, made by the confirmation race (``sweep.confirm.sequential``): the paired test gain
over no regularization, Student's t on the confirmation seeds (each on its own split), one-sided at
``(1 - search.confidence) / 2`` across the looks (Haybittle–Peto) and the candidates (Holm). The
verdict states the gain with its interval and P(gain > 0) (Student's t posterior under a flat prior),
and says plainly when the recommendation is the better estimate but not proven. No interval comes
from fewer than 3 paired seeds. Caveats follow: why it is undecided, a best λ on the edge of the
range, a regularizer with too few finished trials to judge, and penalties that collapsed or diverged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import pandas as pd

from sweep.config.schema import SearchConfig
from sweep.stats.paired import MIN_PAIRED_SEEDS, PairedDifference, paired_difference
from sweep.common.labels import arm_label, config_label, regularizer_name
from sweep.report.ranking import seed_values
from sweep.report.summary import lambda_edge_note
from sweep.stats.sequential import FUTILE, WORSE, Claim
from trainables import names

#: A searched regularizer with fewer trials than this run to the full budget gets a caveat.
MIN_FINISHED_PER_KIND = 2
VERDICT_FILE = "verdict.md"


@dataclass
class Verdict:
    """The answer and its caveats."""

    headline: str
    caveats: list[str] = field(default_factory=list)
    gain: Optional[PairedDifference] = None
    """Test accuracy of the stated penalty minus the baseline's over their paired confirmation seeds."""
    helped: bool = False
    """True only when the race made the one pre-specified claim for the stated penalty."""
    notes: list[str] = field(default_factory=list)
    """Facts behind the answer (what confirmation trained, and why it stopped)."""

    @property
    def gain_pp(self) -> Optional[float]:
        """The gain in percentage points of test accuracy."""
        return None if self.gain is None else 100.0 * self.gain.mean

    def gain_fields(self) -> dict[str, Any]:
        """The gain as best_config.json holds it: pp, its interval, the level and the paired seeds."""
        g = self.gain
        finite = g is not None and g.measured
        return {"gain_pp": self.gain_pp, "gain_interval_pp": [100 * g.low, 100 * g.high] if finite else None,
                "confidence": g.confidence if g is not None else None, "paired_seeds": g.n if g is not None else 0,
                "helped": self.helped,
                "p_gain_positive": g.p_positive if finite and g.n >= MIN_PAIRED_SEEDS else None}

    def text(self) -> str:
        """The verdict as printed: the headline, then one line per caveat."""
        return "\n".join([self.headline, *(f"  {n}" for n in self.notes), *(f"  caveat: {c}" for c in self.caveats)])

    def markdown(self, sweep: str, sections: Optional[Mapping[str, str]] = None) -> str:
        """The verdict as ``verdict.md``, with ``sections`` (title -> text) after it."""
        body = [f"# Verdict of sweep {sweep}", "", self.headline, "", *(f"- {n}" for n in self.notes),
                *([""] if self.notes else [])]
        if self.caveats:
            body += ["Caveats:", "", *(f"- {c}" for c in self.caveats), ""]
        for title, text in (sections or {}).items():
            body += [f"## {title}", "", *_section_markdown(text), ""]
        return "\n".join(body)


def _section_markdown(text: str) -> list[str]:
    """A section's console text as markdown: each unindented line a paragraph, each indented line
    (a trial, a figure) an item of the list under it. The console keeps its aligned columns; the
    report reads as prose and lists, not as a block of terminal text."""
    out: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith(" "):
            out.append(f"- {_escaped(line.strip())}")
        else:
            out += ([""] if out else []) + [_escaped(line), ""]
    while out and not out[-1]:
        out.pop()
    return out


def _escaped(line: str) -> str:
    """Console text as literal markdown: backslash what could start markup mid-line (``*``, a backtick).
    Underscores inside words, ``|w|`` outside a table, ``[a,b]`` with no link defined and ``<`` (the
    report renders no raw HTML) stay as they are, so verdict.md reads plainly as text too."""
    return "".join("\\" + ch if ch in "\\`*" else ch for ch in line)


def make_verdict(
    table: pd.DataFrame,
    stats: pd.DataFrame,
    recommended: Optional[pd.Series],
    best_penalized: Optional[pd.Series],
    search: SearchConfig,
    claims: Optional[Mapping[str, Claim]] = None,
    notes: Optional[list[str]] = None,
    confirmed: bool = True,
) -> Verdict:
    """Build the verdict from the trial table, the per-config stats and the recommendation.
    ``claims``: the race's standing of each candidate (``sweep.confirm.sequential``), which alone says
    "helped"; ``notes``: lines the verdict shows under its headline; ``confirmed``: the recommendation
    came from confirmation seeds (False: from the search's validation ranking, which claims nothing)."""
    verdict = _verdict(table, stats, recommended, best_penalized, search, dict(claims or {}), confirmed)
    verdict.notes = list(notes or [])
    return verdict


#: What the verdict's intervals rest on, by search.confirm_splits.
SEEDS_WORDS = {True: "paired seeds, each on its own split", False: "paired seeds on one split"}


def _verdict(table: pd.DataFrame, stats: pd.DataFrame, recommended: Optional[pd.Series],
             best_penalized: Optional[pd.Series], search: SearchConfig, claims: dict[str, Claim],
             confirmed: bool) -> Verdict:
    base = stats[stats[names.REGULARIZER] == names.NONE]
    caveats = _collapse_caveats(table) + _few_trials_caveats(table, search)
    if recommended is None:
        return Verdict("No trial finished its budget: there is no answer to give.", caveats)
    if base.empty:
        return Verdict(f"Best: {config_label(recommended)}. The baseline did not finish, so no gain can be "
                       "stated against no regularization.", caveats)
    base_row = base.iloc[0]
    candidate = recommended if recommended[names.REGULARIZER] != names.NONE else best_penalized
    if candidate is None:
        return Verdict(f"Only the baseline finished ({_acc(base_row)}): no regularizer could be compared.",
                       caveats)
    label = config_label(candidate)
    claim = claims.get(label)
    gain = claim.gain if claim is not None else paired_difference(
        seed_values(table, candidate, names.TEST_ACCURACY, names.PHASE_CONFIRM),
        seed_values(table, base_row, names.TEST_ACCURACY, names.PHASE_CONFIRM), search.confidence)
    figure = f"{gain.words(seeds=SEEDS_WORDS[search.confirm_splits])} test accuracy over no regularization"
    chance = _chance(gain)
    penalized = recommended[names.REGULARIZER] != names.NONE
    helped = penalized and claim is not None and claim.helped
    if helped:
        edge = lambda_edge_note(recommended, search)
        caveats = ([edge] if edge else []) + caveats
        return Verdict(f"{label} helped: {figure}{chance}.", caveats, gain, True)
    caveat = _undecided_caveat(gain, claim)
    if not confirmed:
        best = (f"the best is {config_label(recommended)}" if penalized else
                f"the best is no regularization (the best penalty: {label})")
        headline = ("No regularizer is proven to help: nothing was confirmed on fresh seeds. On the search's "
                    f"validation accuracy alone (one seed each), {best}.")
    elif gain.n < MIN_PAIRED_SEEDS:
        headline = (f"No regularizer is proven to help: too few paired seeds to tell. "
                    + (f"{label} is the better estimate: it measured {figure}." if penalized else
                       f"Keep no regularization: the best penalty, {label}, measured {figure}."))
    elif penalized:
        headline = (f"{label} measured {figure}{chance}: not proven; it is the better estimate, and the two are "
                    "within noise.")
    elif claim is not None and claim.left.startswith(WORSE):
        # "worse" only from the race's own test (the same boundary as "helped"), not the plain interval
        headline = (f"Keep no regularization: the best penalty, {label}, measured {figure}{chance}; it is proven "
                    "worse.")
    else:
        headline = (f"Keep no regularization: no penalty is proven to help, and the best, {label}, measured "
                    f"{figure}{chance}.")
    return Verdict(headline, [caveat] + caveats, gain, False)


def _chance(gain: PairedDifference) -> str:
    """``; P(gain > 0) = 0.93`` where an interval is measured (Student's t posterior, flat prior)."""
    if not gain.measured or gain.n < MIN_PAIRED_SEEDS:
        return ""
    return f"; P(gain > 0) = {gain.p_positive:.2f}"


def _undecided_caveat(gain: PairedDifference, claim: Optional[Claim] = None) -> str:
    level = f"{100 * gain.confidence:g}%"
    if gain.n == 0:
        return ("no confirmation seeds were trained, so the answer is the search's best on validation: one seed, "
                "picked as the best of many, whose figure is biased upwards (the winner's curse); leave "
                "search.budget_epochs null (or raise it) and keep search.confirm_seeds at 2 or more")
    if gain.n < MIN_PAIRED_SEEDS:
        return (f"the gain rests on {gain.n} paired confirmation seed{'s' if gain.n != 1 else ''} (the search "
                f"trial's own seed never counts: it was picked as the best), too few for a {level} interval, which "
                f"needs {MIN_PAIRED_SEEDS}: set search.confirm_seeds={MIN_PAIRED_SEEDS + 1} (the first round then pairs "
                f"{MIN_PAIRED_SEEDS}), or raise search.budget_epochs so that later rounds can run")
    if claim is not None and claim.left.startswith(FUTILE):
        return f"confirmation stopped early for futility: {claim.left[len(FUTILE):]}"
    if gain.above_zero:  # the plain interval clears 0, the pre-specified test across looks and candidates did not
        return (f"the {level} interval of the test gain ({100 * gain.low:+.1f} to {100 * gain.high:+.1f} pp) lies above "
                f"0, but the claim is one test held at {100 * (1 - gain.confidence) / 2:g}% over every look and "
                f"candidate (one-sided p {gain.p_greater:.3f} did not pass its boundary): more paired seeds "
                "(search.confirm_max_seeds) might tell")
    if not gain.measured:
        return (f"the paired differences are all the same, so no spread is measured and no {level} interval "
                "given: more paired seeds (search.confirm_max_seeds) might tell")
    return (f"the {level} interval of the test gain ({100 * gain.low:+.1f} to {100 * gain.high:+.1f} pp) "
            "reaches 0: more paired seeds (search.confirm_max_seeds) or a larger test split might tell, if the "
            "gain is real")


def _acc(row: Any) -> str:
    return f"test accuracy {float(row['test_mean']):.4f}"


def _collapse_caveats(table: pd.DataFrame) -> list[str]:
    """Per regularizer and placement: the λ values at which trials collapsed to chance or diverged, as
    observed. Not "at λ ≥ x": one collapse says nothing of the λ values above it that did not run, and a
    placement that collapsed says nothing of another (L1 on kernel at 0.01 can collapse where L1 on
    activity at 0.01 trains)."""
    out = []
    for state, verb in ((names.STATE_COLLAPSED, "collapsed to chance accuracy"), (names.STATE_DIVERGED, "diverged")):
        bad = table[table[names.COL_STATE] == state]
        for (reg, placement), group in bad.groupby([names.REGULARIZER, names.PLACEMENT], sort=True):
            lams = pd.to_numeric(group[names.LAMBDA], errors="coerce").dropna()
            if lams.empty:
                continue
            where = arm_label(str(reg), placement)
            if lams.nunique() == 1:
                trials = f"{len(group)} trial{'s' if len(group) > 1 else ''}"
                out.append(f"{where} {verb} at λ={lams.iloc[0]:.2g} ({trials})")
            else:
                out.append(f"{where} {verb} in {len(group)} trials, at λ from {lams.min():.2g} to {lams.max():.2g}")
    return out


def _few_trials_caveats(table: pd.DataFrame, search: SearchConfig) -> list[str]:
    """Searched regularizers with fewer than MIN_FINISHED_PER_KIND trials that ran the full budget."""
    out: list[str] = []
    if search.grid:  # a fixed grid searches no λ: there is nothing to raise
        return out
    search_rows = table[table[names.COL_PHASE] == names.PHASE_SEARCH]
    for reg in search.regularizers:
        if reg == names.NONE:
            continue
        finished = search_rows[(search_rows[names.REGULARIZER] == reg)
                               & (search_rows[names.COL_STATE] == names.STATE_COMPLETED)]
        if len(finished) < MIN_FINISHED_PER_KIND:
            out.append(f"too few trials of {regularizer_name(reg)}: {len(finished)} ran the full budget, so its best "
                       "λ is barely searched (raise search.num_samples, or search.patience when the search settled early)")
    return out
