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
from sweep.common.labels import config_label, regularizer_name
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
