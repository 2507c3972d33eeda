"""One link that opens a sweep's trials side by side in the MLflow UI.

MLflow's UI (3.x) keeps the runs page's state (columns, grouping, charts, filter) in the browser, but
it also reads a *shared view*: an experiment tag ``mlflow.sharedViewState.<key>`` holding that state
as JSON, applied when the URL carries ``viewStateShareKey=<key>``. That is what its own "Share"
button writes. The launcher writes one such view per sweep, so the printed URL opens the
*Model training* runs page on this sweep's child runs only, grouped by regularizer (which also lifts
them out of the collapsed parent row), with their params and metrics as columns, in chart mode: one
per-epoch ``val_accuracy`` line per trial, and a parallel-coordinates chart of regularizer,
placement and λ against accuracy and sparsity.

What the view cannot set: the per-run expand/pin/hide state (MLflow drops those fields from shared
views on purpose), and it never changes a user's own saved view (MLflow applies a shared view
read-only until the user saves it).
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from typing import Any, Optional

from trainables import names

#: The MLflow UI's names (mlflow/server/js/src/experiment-tracking/constants.ts, 3.x).
SHARED_VIEW_TAG_PREFIX = "mlflow.sharedViewState."
SHARE_KEY_PARAM = "viewStateShareKey"
VIEW_MODE_PARAM = "compareRunsMode"
CHART_MODE = "CHART"
#: The UI's GenAI / Model training switch: per browser (local storage, GenAI by default), not per
#: experiment, so the experiment's ``mlflow.experimentKind`` tag does not choose it; the URL does.
WORKFLOW_PARAM = "workflowType"
MODEL_TRAINING = "machine_learning"
#: Where a plain ``mlflow ui`` listens.
LOCAL_UI = "http://127.0.0.1:5000"

#: The columns the view shows, in order: what a person compares trials on.
VIEW_PARAMS = (names.REGULARIZER, names.PLACEMENT, names.LAMBDA, names.L1_RATIO, names.SEED)
VIEW_METRICS = (names.VAL_ACCURACY, names.TEST_ACCURACY, names.SPARSITY, names.TEST_ACCURACY_PRUNED)
VIEW_TAGS = (names.TAG_STATE,)


def _column(kind: str, key: str) -> str:
    """MLflow's canonical column key (``makeCanonicalSortKey``): ``params.`lambda```."""
    return f"{kind}.`{key}`"


def share_key(sweep: str) -> str:
    """A stable key per sweep name (a bare hash: MLflow reads a value starting with ``{`` as an
    inline view, anything else as a tag key)."""
    return "regsweep-" + hashlib.sha256(sweep.encode()).hexdigest()[:16]


def trials_filter(sweep: str) -> str:
    """The MLflow search filter for this sweep's child runs (not its parent, not other sweeps'). Sweep
    names are letters, digits, ``.``, ``_`` and ``-`` (the config checks), so no quoting is needed."""
    return f"tags.`{names.TAG_SWEEP}` = '{sweep}' and tags.`{names.TAG_ROLE}` = '{names.ROLE_TRIAL}'"


def view_state(sweep: str) -> dict[str, Any]:
    """The runs page's state for this sweep: search facets plus UI state, the shape MLflow's
    "Share" button writes (``ExperimentPageSearchFacetsState`` and ``ExperimentPageUIState``)."""
    section = "regsweep-" + share_key(sweep)[-8:]
    line = {
        "uuid": f"{section}-val-accuracy", "type": "LINE", "metricSectionId": section, "deleted": False,
        "isGenerated": False, "runsCountToCompare": 100, "metricKey": names.VAL_ACCURACY,
        "selectedMetricKeys": [names.VAL_ACCURACY], "lineSmoothness": 0, "xAxisKey": "step",
        "xAxisScaleType": "linear", "scaleType": "linear", "selectedXAxisMetricKey": "",
        "useGlobalXaxisKey": False, "useGlobalLineSmoothing": False,
    }
    parallel = {
        "uuid": f"{section}-parallel", "type": "PARALLEL", "metricSectionId": section, "deleted": False,
        "isGenerated": False, "runsCountToCompare": 100,
        "selectedParams": [names.REGULARIZER, names.PLACEMENT, names.LAMBDA],
        "selectedMetrics": [names.VAL_ACCURACY, names.SPARSITY], "showAllRuns": True,
    }
    return {
        "searchFilter": trials_filter(sweep),
        "orderByKey": _column("metrics", names.VAL_ACCURACY),
        "orderByAsc": False,
        "startTime": "ALL",
        "lifecycleFilter": "Active",
        "modelVersionFilter": "All Runs",
        "datasetsFilter": [],
        "selectedColumns": ([_column("params", p) for p in VIEW_PARAMS]
                            + [_column("metrics", m) for m in VIEW_METRICS]
                            + [_column("tags", t) for t in VIEW_TAGS]),
        "columnOrder": [],
        "columnWidths": {},
        "runsHiddenMode": "SHOW_ALL",
        "compareRunCharts": [line, parallel],
        "compareRunSections": [
            {"uuid": section, "name": f"regsweep: {sweep}", "display": True, "isReordered": False,
             "deleted": False, "isGenerated": False},
        ],
        "viewMaximized": False,
        "runListHidden": False,
        "isAccordionReordered": True,
        "groupBy": {"aggregateFunction": "average",
                    "groupByKeys": [{"mode": "param", "groupByData": names.REGULARIZER}]},
        "groupsExpanded": {},
        "useGroupedValuesInCharts": False,
        "hideEmptyCharts": True,
        "globalLineChartConfig": {"xAxisKey": "step", "lineSmoothness": 0, "selectedXAxisMetricKey": ""},
    }


def publish_view(client: Any, experiment_id: str, sweep: str) -> str:
    """Write the sweep's view on its experiment (once per launch; the same key each time)."""
    key = share_key(sweep)
    client.set_experiment_tag(experiment_id, SHARED_VIEW_TAG_PREFIX + key, json.dumps(view_state(sweep)))
    return key


def trials_url(ui_base: str, experiment_id: str, key: str) -> str:
    """The URL of the runs page with the sweep's view applied, in chart mode."""
    query = urllib.parse.urlencode({SHARE_KEY_PARAM: key, VIEW_MODE_PARAM: CHART_MODE, WORKFLOW_PARAM: MODEL_TRAINING})
    return f"{ui_base.rstrip('/')}/#/experiments/{experiment_id}/runs?{query}"


def run_url(ui_base: str, experiment_id: str, run_id: str) -> str:
    """The URL of one run's page in the MLflow UI."""
    return f"{ui_base.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def ui_base(tracking_uri: str, local: bool) -> str:
    """Where a browser finds the UI: the server itself, or a plain ``mlflow ui`` for the local store."""
    return LOCAL_UI if local else tracking_uri


def share_sweep_view(tracking_uri: str, local: bool, experiment_id: str, sweep: str) -> Optional[str]:
    """Write the sweep's view and return its URL; None (and the sweep goes on) if the server refuses
    the experiment tag, e.g. for a user who may write runs but not the experiment."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        key = publish_view(MlflowClient(tracking_uri=tracking_uri), experiment_id, sweep)
    except MlflowException:
        return None
    return trials_url(ui_base(tracking_uri, local), experiment_id, key)
