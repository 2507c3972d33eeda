"""The end of a sweep, when MLflow fails: one line (exit 1 via SummaryNotLogged), results kept on
disk, and the parent run ended FAILED instead of left RUNNING. Against a real SQLite store."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweep.config.schema import SweepConfig
from sweep.report.write import SweepOutcome
from sweep.tracking.finish import log_summary as _log_summary
from sweep.tracking.records import TrackingInfo, start_record
from sweep.tracking.trial_runs import TrialRunWriter
from trainables import names
from trainables.errors import SummaryNotLogged


@pytest.fixture
def parent(tmp_path: Path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("end", artifact_location=(tmp_path / "art").as_uri())
    run = client.create_run(exp, run_name="sweep")
    return client, TrackingInfo(uri=uri, experiment_id=exp, parent_run_id=run.info.run_id, sweep="sweep",
                                max_outage_s=1.0)


def outcome(tmp_path: Path, files: list[Path]) -> SweepOutcome:
    import pandas as pd

    return SweepOutcome(name="sweep", table=pd.DataFrame(), best={names.REGULARIZER: names.NONE}, edge_note=None,
                        output_dir=tmp_path, best_metrics={names.VAL_ACCURACY: 0.9}, files=files)


def test_a_summary_mlflow_refuses_is_one_line_and_the_parent_ends_failed(parent, tmp_path):
    # regression: these calls sat outside the error handling: a traceback, and the parent stayed RUNNING
    client, info = parent
    cfg = SweepConfig()
    writer = TrialRunWriter(info).start()
    with pytest.raises(SummaryNotLogged) as err:
        _log_summary(cfg, info, writer, outcome(tmp_path, [tmp_path / "missing.csv"]), tmp_path)
    assert "logging the summary to MLflow failed" in str(err.value) and str(tmp_path) in str(err.value)
    assert len(str(err.value).splitlines()) == 1
    assert client.get_run(info.parent_run_id).info.status == names.RUN_FAILED


def test_the_summary_is_logged_and_the_parent_finished_when_mlflow_answers(parent, tmp_path):
    client, info = parent
    csv = tmp_path / "results.csv"
    csv.write_text("trial\n")
    writer = TrialRunWriter(info).start()
    writer.submit(start_record("t1", "tune_trainable_t1", {names.REGULARIZER: names.NONE}))
    _log_summary(SweepConfig(), info, writer, outcome(tmp_path, [csv]), tmp_path)
    run = client.get_run(info.parent_run_id)
    assert run.info.status == names.RUN_FINISHED and run.data.metrics["best_val_accuracy"] == 0.9
    assert run.data.tags[names.TAG_BEST_CONFIG] == '{"regularizer": "none"}'
    assert [a.path for a in client.list_artifacts(info.parent_run_id, "summary")] == ["summary/results.csv"]
    assert len(client.search_runs([info.experiment_id])) == 2, "the queued child run was delivered first"
