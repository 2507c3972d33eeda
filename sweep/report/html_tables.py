"""What report.html shows as text: the verdict rendered from its markdown, the per-config table and the
trials table, sortable by a click on a column's header.

The verdict is verdict.md's own text, rendered by ``markdown-it-py`` (CommonMark, the parser ``rich``
already installs), so the page shows headings, lists and the console's sections as preformatted blocks
instead of markdown syntax. The tables are built from the same trial table as results.csv and the
console's per-config table (``sweep.report.ranking.config_stats``), so the three cannot disagree.
"""

from __future__ import annotations

import html
import math
from typing import Any, Mapping, Optional, Sequence

import pandas as pd

from sweep.common.labels import config_label
from sweep.report.ranking import CONFIG_KEYS, config_stats, mean_pm_sd
from trainables import names

#: The trials table's columns: (header, column of the trial table, how a value prints).
TRIAL_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("trial", names.COL_TRIAL, "text"), ("phase", names.COL_PHASE, "text"), ("state", names.COL_STATE, "text"),
    ("config", "", "config"), ("seed", names.SEED, "int"), ("epochs", names.COL_EPOCHS, "int"),
    ("val_accuracy", names.VAL_ACCURACY, "acc"), ("test_accuracy", names.TEST_ACCURACY, "acc"),
    ("sparsity", names.SPARSITY, "acc"), ("removable", names.REMOVABLE, "acc"),
    ("spared", names.SPARED, "int"),
)

#: Click a header to sort by it (numbers as numbers, text as text; a second click reverses).
SORT_SCRIPT = """<script>
document.querySelectorAll('table.sortable th').forEach(function (th) {
  th.addEventListener('click', function () {
    var col = th.cellIndex, body = th.closest('table').tBodies[0], rows = Array.from(body.rows);
    var down = th.dataset.order !== 'asc';
    th.dataset.order = down ? 'asc' : 'desc';
    rows.sort(function (a, b) {
      var x = a.cells[col].dataset.sort, y = b.cells[col].dataset.sort;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
      return down ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
</script>"""

STYLE = ("table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #ddd;padding:3px 8px;"
         "text-align:right}td.text,th{text-align:left}th{cursor:pointer;background:#f0f0f0}")


def verdict_html(markdown: str) -> str:
    """verdict.md as HTML: headings, paragraphs, lists, and its sections' console text as ``<pre>``."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)


def _cell(value: Any, kind: str) -> tuple[str, str]:
    """(shown, sort key) of one value."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "-", ""
    if kind == "int":
        return f"{int(value)}", f"{int(value)}"
    if kind == "acc":
        return f"{float(value):.4f}", f"{float(value):.6f}"
    return str(value), str(value)


def _table(headers: Sequence[str], rows: Sequence[Sequence[tuple[str, str, bool]]], css: str,
           links: Optional[Sequence[str]] = None) -> str:
    """An HTML table; each cell is (shown, sort key, is text). ``links``: per row, a URL the first cell
    links to ('' for none)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(
        f"<td class='{'text' if text else 'num'}' data-sort='{html.escape(key, quote=True)}'>"
        + (_link(shown, links[r]) if i == 0 and links and links[r] else html.escape(shown)) + "</td>"
        for i, (shown, key, text) in enumerate(row)) + "</tr>" for r, row in enumerate(rows))
    return f"<table class='sortable {css}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _link(shown: str, url: str) -> str:
    return f"<a href='{html.escape(url, quote=True)}' target='_blank' rel='noopener'>{html.escape(shown)}</a>"


def trials_table_html(table: pd.DataFrame, run_links: Optional[Mapping[str, str]] = None) -> str:
    """One row per trial, search and confirmation alike, as results.csv holds them; ``run_links`` (trial
    id -> its MLflow run's page) links each trial's id."""
    rows = []
    for _, trial in table.iterrows():
        row = []
        for _, column, kind in TRIAL_COLUMNS:
            if kind == "config":
                label = config_label(trial)
                row.append((label, label, True))
                continue
            shown, key = _cell(trial.get(column), kind)
            row.append((shown, key, kind == "text"))
        rows.append(row)
    links = [(run_links or {}).get(str(trial), "") for trial in table[names.COL_TRIAL]] if run_links else None
    return _table([h for h, _, _ in TRIAL_COLUMNS], rows, "trials", links)


def configs_table_html(table: pd.DataFrame) -> str:
    """One row per config over its completed trials: seeds, mean ± sd of val and test accuracy, sparsity."""
    missing = {key: None for key in (*CONFIG_KEYS, names.SPARSITY) if key not in table.columns}
    stats = config_stats(table.assign(**missing) if missing else table)
    rows = []
    for _, config in stats.iterrows():
        def pm(metric: str) -> tuple[str, str, bool]:
            mean = float(config[f"{metric}_mean"])
            return mean_pm_sd(mean, float(config[f"{metric}_sd"])), "" if math.isnan(mean) else f"{mean:.6f}", False
        label = config_label(config)
        rows.append([(label, label, True), (str(int(config["n_seeds"])), str(int(config["n_seeds"])), False),
                     pm("val"), pm("test"), (*_cell(config[names.SPARSITY], "acc"), False)])
    return _table(["config", "seeds", "val_accuracy (mean ± sd)", "test_accuracy (mean ± sd)", "sparsity"], rows,
                  "configs")
