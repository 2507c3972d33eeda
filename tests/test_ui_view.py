"""The sweep's view in the MLflow UI (``sweep.tracking.ui_view``): its filter finds this sweep's
trials only, and the names it relies on are the ones the installed MLflow UI reads. The UI's bundle
is read from the installed package, so an MLflow upgrade that renames a field fails here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sweep.tracking.ui_view import (SHARE_KEY_PARAM, SHARED_VIEW_TAG_PREFIX, VIEW_MODE_PARAM, WORKFLOW_PARAM,
                                    publish_view, share_key, trials_filter, trials_url, view_state)
from trainables import names


@pytest.fixture(scope="module")
def bundle() -> str:
    """The installed MLflow UI's JavaScript (the main bundle holds the shared constants)."""
    import mlflow

    js = Path(mlflow.__file__).parent / "server" / "js" / "build" / "static" / "js"
    return "\n".join(p.read_text(errors="replace") for p in sorted(js.glob("*.js")))


def _string_list(bundle: str, first: str) -> list[str]:
    """The longest list of names in the bundle that starts with ``first`` (minified: one per line)."""
    found = [json.loads(f"[{m.group(1)}]") for m in re.finditer(r'\[("' + re.escape(first) + r'"(?:,"[A-Za-z]+")*)\]', bundle)]
    assert found, f"MLflow's UI no longer lists {first!r}"
    return max(found, key=len)


def test_the_view_uses_only_fields_the_installed_ui_reads(bundle):
    import mlflow

    ui_fields = _string_list(bundle, "selectedColumns")
    not_shared = _string_list(bundle, "runsExpanded")
    facets = _string_list(bundle, "searchFilter")
    state = view_state("s")
    unknown = set(state) - (set(ui_fields) - set(not_shared)) - set(facets)
    assert not unknown, f"MLflow {mlflow.__version__} ignores {unknown}"
    for constant in (SHARED_VIEW_TAG_PREFIX, SHARE_KEY_PARAM, VIEW_MODE_PARAM, WORKFLOW_PARAM, '"machine_learning"',
                     '"average"', '"param"', '"SHOW_ALL"', '"PARALLEL"', '"LINE"'):
        assert constant.strip('"') in bundle, f"MLflow {mlflow.__version__}'s UI has no {constant}"


def test_the_filter_finds_this_sweeps_trials_and_nothing_else(tmp_path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.create_experiment("view")
    sweep = "sweep.v2-a"  # every character a name may hold besides letters and digits
    parent = client.create_run(exp, tags={names.TAG_SWEEP: sweep, names.TAG_ROLE: names.ROLE_PARENT})
    mine = [client.create_run(exp, tags={names.TAG_SWEEP: sweep, names.TAG_ROLE: names.ROLE_TRIAL,
                                         names.TAG_PARENT_RUN: parent.info.run_id}) for _ in range(2)]
    client.create_run(exp, tags={names.TAG_SWEEP: "other", names.TAG_ROLE: names.ROLE_TRIAL})
    found = client.search_runs([exp], filter_string=trials_filter(sweep))
    assert sorted(r.info.run_id for r in found) == sorted(r.info.run_id for r in mine)

    key = publish_view(client, exp, sweep)
    stored = json.loads(client.get_experiment(exp).tags[SHARED_VIEW_TAG_PREFIX + key])
    assert stored["searchFilter"] == trials_filter(sweep) and key == share_key(sweep) and not key.startswith("{")
    url = trials_url("http://127.0.0.1:5000/", exp, key)
    assert url.startswith(f"http://127.0.0.1:5000/#/experiments/{exp}/runs?{SHARE_KEY_PARAM}={key}&")
    assert "compareRunsMode=CHART" in url and "workflowType=machine_learning" in url
