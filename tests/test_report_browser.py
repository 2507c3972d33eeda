"""report.html of a real digits sweep (the session's shared local sweep), opened in Debian's chromium
through Playwright as a user opens the file: the verdict rendered (no markdown syntax in what is shown),
the per-config and trials tables with one row per config and per trial, every chart drawn, and no
error in the browser's console. Screenshots land in ``test-artifacts/``."""

from __future__ import annotations

import pandas as pd

from sweep.report.ranking import config_stats
from tests.conftest import REPO
from tests.shared_sweeps import LOCAL_NAME
from trainables import names

ARTIFACT_DIR = REPO / "test-artifacts"
#: Markdown a rendered verdict must not show as text.
MARKDOWN_SYNTAX = ("```", "# Verdict", "## ", "\n- ")


def test_report_html_renders_its_verdict_tables_and_charts_in_chromium(local_sweep):
    from playwright.sync_api import sync_playwright

    table = pd.read_csv(local_sweep.out_dir / "results.csv", dtype={names.COL_TRIAL: str})
    errors: list[str] = []
    ARTIFACT_DIR.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                     args=["--headless", "--no-sandbox", "--disable-gpu",
                                           "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((local_sweep.out_dir / "report.html").as_uri())
        try:
            page.locator("section.verdict h1").first.wait_for(timeout=60_000)
            page.screenshot(path=str(ARTIFACT_DIR / "report-top.png"))
            shown = page.locator("section.verdict").inner_text()
            trial_rows = page.locator("table.trials tbody tr").count()
            config_rows = page.locator("table.configs tbody tr").count()
            shown_ids = page.locator("table.trials tbody tr td:first-child").all_inner_texts()
            links = page.locator("table.trials tbody tr td:first-child a").evaluate_all("as => as.map(a => a.href)")
            headers = page.locator("table.trials th").all_inner_texts()
            page.locator(".plotly-graph-div").nth(4).locator(".main-svg").first.wait_for(timeout=60_000)
            charts = page.locator(".plotly-graph-div").count()
            drawn = page.locator(".plotly-graph-div:has(.main-svg)").count()
            # a click on a header sorts the trials table by that column
            page.locator("table.trials th", has_text="val_accuracy").click()
            sorted_vals = page.locator("table.trials tbody tr td:nth-child(7)").all_inner_texts()
            page.locator("table.trials").scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACT_DIR / "report-tables.png"))
        finally:
            browser.close()
    assert shown.startswith(f"Verdict of sweep {LOCAL_NAME}"), shown[:300]
    assert not [m for m in MARKDOWN_SYNTAX if m in shown], shown[:2000]
    assert trial_rows == len(table) and sorted(shown_ids) == sorted(table[names.COL_TRIAL]), "one row per trial"
    assert config_rows == len(config_stats(table)), "one row per config"
    assert "spared" in headers, headers
    # the writer makes a trial's run when the trial starts, long before the report: every id is a link
    assert len(links) >= len(table) - 1 and all("/#/experiments/" in u and "/runs/" in u for u in links), links
    numbers = [float(v) for v in sorted_vals if v != "-"]
    assert numbers == sorted(numbers), sorted_vals
    assert charts >= 5 and drawn == charts, (charts, drawn)
    assert not errors, errors
