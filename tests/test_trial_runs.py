"""The driver's MLflow writer against a real MLflow store (SQLite, the local default): child runs,
steps, end states and attempts, including the cases the worker-side writer got wrong. Where a
failure is needed, a thin wrapper makes one real client call fail once."""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import pytest

from sweep.tracking.records import TrackingInfo, end_record, epoch_record, start_record
from sweep.tracking.trial_runs import TrialRunWriter
from trainables import names

PARAMS = {names.REGULARIZER: names.L2, names.PLACEMENT: names.KERNEL, names.LAMBDA: 0.01, "epochs": 3}


def result(epoch: int, finished: bool = False) -> dict:
    return {names.EPOCH: epoch, names.LOSS: 1.0 / epoch, names.ACCURACY: 0.5, names.VAL_LOSS: 1.0,
            names.VAL_ACCURACY: 0.4 + epoch / 10, names.FINISHED: float(finished), names.DIVERGED: 0.0,
            names.COLLAPSED: 0.0, names.NODE_ID: "node-a", "time_this_iter_s": 1.0}


@pytest.fixture
def store(tmp_path: Path):
    """(uri, client, info) for a fresh local store with a parent run."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("writer", artifact_location=(tmp_path / "art").as_uri())
    parent = client.create_run(exp, run_name="sweep", tags={names.TAG_ROLE: names.ROLE_PARENT})
    return uri, client, TrackingInfo(uri=uri, experiment_id=exp, parent_run_id=parent.info.run_id, sweep="sweep",
                                     max_outage_s=5.0)


def children(client, info):
    return client.search_runs([info.experiment_id], filter_string=f"tags.`{names.TAG_PARENT_RUN}` = "
                                                                    f"'{info.parent_run_id}'")


def steps(client, run_id: str) -> list[int]:
    return sorted(int(m.step) for m in client.get_metric_history(run_id, names.EPOCH))


def submit_completed_trial(writer: TrialRunWriter) -> None:
    """Trial t1's records as Tune gives them: its start, epochs 1-3, its end (completed)."""
    writer.submit(start_record("t1", "tune_trainable_t1", PARAMS))
    for epoch in (1, 2, 3):
        writer.submit(epoch_record("t1", result(epoch, finished=epoch == 3)))
    writer.submit(end_record("t1", result(3, finished=True), False, None))


def drain(writer: TrialRunWriter) -> None:
    writer.start()
    assert writer.flush(60) == 0
    writer.close()


class FailOnce:
    """A real MlflowClient whose named method fails once, after doing its work or before."""

    def __init__(self, client, method: str, after_success: bool, exc: Exception):
        self._client, self._method, self._after, self._exc = client, method, after_success, exc
        self.failed = False

    def __getattr__(self, name):
        real = getattr(self._client, name)
        if name != self._method:
            return real

        def call(*args, **kwargs):
            if self.failed:
                return real(*args, **kwargs)
            self.failed = True
            if self._after:
                real(*args, **kwargs)
            raise self._exc

        return call


def test_a_trial_gets_one_child_run_with_params_every_epoch_once_and_its_end_state(store):
    _, client, info = store
    writer = TrialRunWriter(info)
    submit_completed_trial(writer)
    drain(writer)
    (child,) = children(client, info)
    assert child.info.run_name == "tune_trainable_t1" and child.info.status == names.RUN_FINISHED
    assert child.data.params[names.REGULARIZER] == names.L2 and child.data.params[names.LAMBDA] == "0.01"
    assert child.data.tags[names.TAG_STATE] == names.STATE_COMPLETED
    assert child.data.tags[names.TAG_ATTEMPTS] == "1" and child.data.tags[names.TAG_NODE_ID] == "node-a"
    assert steps(client, child.info.run_id) == [1, 2, 3]
    assert "time_this_iter_s" not in child.data.metrics, "only the contract's metrics are logged"


def test_a_spared_trial_carries_the_rungs_it_was_spared_at_as_a_tag_and_a_metric(store):
    _, client, info = store
    writer = TrialRunWriter(info)
    writer.submit(start_record("t1", "tune_trainable_t1", PARAMS))
    for epoch, spared in ((1, ()), (2, (2,)), (3, (2,))):
        writer.submit(epoch_record("t1", {**result(epoch, finished=epoch == 3),
                                          **({names.SPARED: float(len(spared))} if spared else {})}, spared))
    writer.submit(end_record("t1", result(3, finished=True), False, None))
    drain(writer)
    (child,) = children(client, info)
    assert child.data.tags[names.TAG_SPARED] == "2" and child.data.metrics[names.SPARED] == 1.0
    assert sorted(int(m.step) for m in client.get_metric_history(child.info.run_id, names.SPARED)) == [2, 3]


@pytest.mark.parametrize("method, after_success, exc, fresh", [
    # regression: the worker-side TrialRun._open took this retry for a second attempt and skipped the params
    ("log_batch", False, ConnectionError("connection reset"), False),
    # the run was created but the answer was lost: the retry must find it, not create a second one
    ("create_run", True, ConnectionError("answer lost"), False),
    # the same in a fresh sweep, where the writer does not look for runs it did not make: the start key
    ("create_run", True, ConnectionError("answer lost"), True),
])
def test_a_retried_start_makes_one_child_with_its_params_and_one_attempt(store, method, after_success, exc, fresh):
    _, client, info = store
    flaky = FailOnce(client, method, after_success=after_success, exc=exc)
    writer = TrialRunWriter(info, client=flaky, fresh=fresh)
    writer.submit(start_record("t1", "tune_trainable_t1", PARAMS))
    drain(writer)
    assert flaky.failed
    (child,) = children(client, info)
    assert child.data.params[names.REGULARIZER] == names.L2 and child.data.params["epochs"] == "3"
    assert child.data.params[names.PLACEMENT] == names.KERNEL
    assert child.data.tags[names.TAG_ATTEMPTS] == "1"


def test_a_trial_that_errors_before_its_first_report_ends_errored_not_running(store):
    # regression: its child run stayed "running" (the fallback trial id was a directory name)
    _, client, info = store
    writer = TrialRunWriter(info)
    writer.submit(start_record("t9", "tune_trainable_t9", PARAMS))
    writer.submit(end_record("t9", {"trial_id": "t9"}, True, None))
    drain(writer)
    (child,) = children(client, info)
    assert child.data.tags[names.TAG_STATE] == names.STATE_ERRORED and child.info.status == names.RUN_FAILED
    assert child.data.params[names.REGULARIZER] == names.L2, "every child run carries its params"


def test_a_retried_trial_continues_its_run_without_duplicate_steps(store):
    _, client, info = store
    writer = TrialRunWriter(info)
    writer.submit(start_record("t1", "tune_trainable_t1", PARAMS))
    for epoch in (1, 2):
        writer.submit(epoch_record("t1", result(epoch)))
    writer.submit(start_record("t1", "tune_trainable_t1", PARAMS))  # Ray retries it from epoch 1's checkpoint
    for epoch in (2, 3):
        writer.submit(epoch_record("t1", result(epoch, finished=epoch == 3)))
    writer.submit(end_record("t1", result(3, finished=True), False, None))
    drain(writer)
    (child,) = children(client, info)
    assert child.data.tags[names.TAG_ATTEMPTS] == "2"
    assert steps(client, child.info.run_id) == [1, 2, 3]
    assert [int(m.step) for m in client.get_metric_history(child.info.run_id, names.VAL_ACCURACY)] == [1, 2, 3]


def test_a_new_driver_resumes_records_without_duplicates_and_leaves_ended_runs_alone(store):
    _, client, info = store
    first = TrialRunWriter(info)
    first.submit(start_record("done", "tune_trainable_done", PARAMS))
    first.submit(epoch_record("done", result(1, finished=True)))
    first.submit(end_record("done", result(1, finished=True), False, None))
    first.submit(start_record("t2", "tune_trainable_t2", PARAMS))
    first.submit(epoch_record("t2", result(1)))
    drain(first)
    # what Ray saved with the experiment: a record that had been delivered, and one that had not
    saved = pickle.loads(pickle.dumps([epoch_record("t2", result(1)), epoch_record("t2", result(2))]))

    second = TrialRunWriter(info)  # the resumed driver
    second.restore(saved)
    second.submit(start_record("done", "tune_trainable_done", PARAMS))  # Ray restarts a finished trial
    second.submit(epoch_record("done", result(1, finished=True)))
    second.submit(start_record("t2", "tune_trainable_t2", PARAMS))
    for epoch in (2, 3):
        second.submit(epoch_record("t2", result(epoch, finished=epoch == 3)))
    second.submit(end_record("t2", result(3, finished=True), False, None))
    drain(second)
    by_trial = {c.data.tags[names.TAG_TRIAL_ID]: c for c in children(client, info)}
    assert set(by_trial) == {"done", "t2"}
    assert by_trial["done"].data.tags[names.TAG_ATTEMPTS] == "1", "a finished trial is not counted again"
    assert steps(client, by_trial["done"].info.run_id) == [1]
    assert by_trial["t2"].data.tags[names.TAG_ATTEMPTS] == "2"
    assert steps(client, by_trial["t2"].info.run_id) == [1, 2, 3]
    assert by_trial["t2"].data.tags[names.TAG_STATE] == names.STATE_COMPLETED


@pytest.mark.slow
def test_records_wait_in_order_while_the_store_is_away_and_nothing_is_lost(tmp_path, capsys, monkeypatch):
    from sweep.tracking.retry import DRIVER_MLFLOW_ENV
    from tests.servers import free_port, mlflow_server

    for key, value in DRIVER_MLFLOW_ENV.items():  # as run_sweep sets them: sweep.tracking.retry alone retries
        monkeypatch.setenv(key, value)
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    with mlflow_server(tmp_path / "srv", port):
        exp = client.create_experiment("outage")
        parent = client.create_run(exp, run_name="sweep")
    info = TrackingInfo(uri=uri, experiment_id=exp, parent_run_id=parent.info.run_id, sweep="sweep", max_outage_s=1.0)
    writer = TrialRunWriter(info).start()
    writer.submit(start_record("t1", "tune_trainable_t1", PARAMS))
    for epoch in (1, 2):
        writer.submit(epoch_record("t1", result(epoch)))
    assert writer.flush(4) == 3, "nothing is delivered while the server is away, nothing is dropped"
    with mlflow_server(tmp_path / "srv", port):
        assert writer.flush(60) == 0
        writer.close()
        (child,) = children(client, info)
        assert steps(client, child.info.run_id) == [1, 2]
    out = capsys.readouterr()
    assert "MLflow unreachable while opening the child run of trial t1" in out.err
    assert "did not answer for" in out.out and "tracking.max_outage_s" in out.out
    assert "MLflow answers again" in out.err


def test_runs_of_trials_ray_never_saved_are_moved_to_the_deleted_view_after_a_resume(store):
    # regression: a launcher killed right after starting a trial, before Ray saved it, left a second
    # child run for the config Ray trained again under a new id (5 children for 4 trials)
    _, client, info = store
    writer = TrialRunWriter(info)
    for trial in ("kept", "forgotten"):
        writer.submit(start_record(trial, f"tune_trainable_{trial}", PARAMS))
    drain(writer)
    assert writer.remove_lost_runs({"kept"}) == 1
    (child,) = children(client, info)
    assert child.data.tags[names.TAG_TRIAL_ID] == "kept"
    from mlflow.entities import ViewType

    deleted = client.search_runs([info.experiment_id], run_view_type=ViewType.DELETED_ONLY)
    assert [r.data.tags[names.TAG_TRIAL_ID] for r in deleted] == ["forgotten"]


class Counting:
    """A real MlflowClient that counts its calls by name; ``refuse`` makes log_batch refuse one metric value."""

    def __init__(self, client, refuse: float | None = None):
        self._client, self._refuse, self.calls = client, refuse, {}

    def __getattr__(self, name):
        real = getattr(self._client, name)

        def call(*args, **kwargs):
            self.calls[name] = self.calls.get(name, 0) + 1
            if name == "log_batch" and any(m.value == self._refuse for m in kwargs.get("metrics") or []):
                from mlflow.exceptions import MlflowException

                from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

                raise MlflowException("refused value", error_code=INVALID_PARAMETER_VALUE)
            return real(*args, **kwargs)

        return call


def test_queued_epochs_and_the_end_of_a_trial_go_out_in_one_batch(store):
    """Thousands of short trials report faster than one call per record can be sent: a trial's
    queued epochs and its end share one log_batch."""
    _, client, info = store
    counting = Counting(client)
    writer = TrialRunWriter(info, client=counting, fresh=True)
    submit_completed_trial(writer)
    drain(writer)
    (child,) = children(client, info)
    assert steps(client, child.info.run_id) == [1, 2, 3]
    assert child.data.tags[names.TAG_STATE] == names.STATE_COMPLETED and child.info.status == names.RUN_FINISHED
    assert counting.calls["log_batch"] == 2, "one for the params, one for all three epochs"
    assert "search_runs" not in counting.calls, "a fresh sweep does not look for runs it never made"
    # the end's state tag rides in the epochs' batch: create, params, epochs with the state, end status
    assert "set_tag" not in counting.calls and counting.calls["set_terminated"] == 1
    assert sum(counting.calls.values()) == 4


def test_an_end_whose_epochs_went_out_before_sets_its_state_on_its_own(store):
    """The state tag rides in a batch only when there is one: an end queued after its epochs were
    already delivered (or a retried end whose batch went out) still sets it."""
    _, client, info = store
    counting = Counting(client)
    writer = TrialRunWriter(info, client=counting, fresh=True)
    writer.submit(start_record("t1", "t1", PARAMS))
    writer.submit(epoch_record("t1", result(1)))
    writer.start()
    assert writer.flush(60) == 0
    writer.submit(end_record("t1", result(1), False, None))
    assert writer.flush(60) == 0
    writer.close()
    (child,) = children(client, info)
    assert child.data.tags[names.TAG_STATE] == names.STATE_STOPPED and child.info.status == names.RUN_KILLED
    assert counting.calls["set_tag"] == 1


def test_a_refused_record_in_a_batch_costs_only_that_record(store, capsys):
    _, client, info = store
    writer = TrialRunWriter(info, client=Counting(client, refuse=0.4 + 2 / 10))
    submit_completed_trial(writer)
    drain(writer)
    (child,) = children(client, info)
    assert steps(client, child.info.run_id) == [1, 3], "epoch 2 was refused, the others are logged"
    assert child.data.tags[names.TAG_STATE] == names.STATE_COMPLETED
    assert len(writer.errors) == 1 and "epoch 2" in writer.errors[0]


class Slow:
    """A real MlflowClient that takes ``delay_s`` longer for every call: a healthy but slow server."""

    def __init__(self, client, delay_s: float):
        self._client, self._delay = client, delay_s

    def __getattr__(self, name):
        real = getattr(self._client, name)

        def call(*args, **kwargs):
            time.sleep(self._delay)
            return real(*args, **kwargs)

        return call


def test_the_end_of_sweep_wait_does_not_give_up_on_a_server_that_is_slow_but_answering(store):
    # regression (CI): the driver gave up after max_outage_s of wall time although the server took
    # every record, only slowly (model logging), and a resumed sweep then exited 1
    _, client, info = store
    writer = TrialRunWriter(info, client=Slow(client, delay_s=0.15), fresh=True).start()
    submit_completed_trial(writer)
    started = time.monotonic()
    assert writer.flush(0.2) == 0, "no failure happened, so nothing is an outage"
    assert time.monotonic() - started > 0.2
    writer.close()
    (child,) = children(client, info)
    assert steps(client, child.info.run_id) == [1, 2, 3]


def test_a_wait_with_a_limit_gives_up_at_the_limit_even_on_a_healthy_server(store, tmp_path):
    # the interrupted driver's path: Ctrl-C must not wait for every model upload
    _, client, info = store
    writer = TrialRunWriter(info, client=Slow(client, delay_s=0.5), fresh=True).start()
    submit_completed_trial(writer)
    assert writer.stop(60.0, keep_in=tmp_path / "pending.pkl", limit_s=0.3) > 0
    assert (tmp_path / "pending.pkl").exists()


def test_logging_a_model_keeps_stdout_and_draws_no_progress_bar(store, digits, tmp_path, capfd, monkeypatch):
    """Regressions: (1) Keras drew its progress bar into the console when MLflow checked the input
    example (checkpoint_model's clear_session had turned interactive logging back on); (2) the
    fix that swapped sys.stdout around the logging swallowed the summary the main thread printed
    at that moment."""
    import shutil
    import sys
    from dataclasses import replace

    from mlflow.models import Model
    from ray import tune

    from trainables.settings import TrainSettings
    from trainables.trainable import run_trial

    saved = tmp_path / "ckpt"

    def keep(metrics, ckpt):
        if ckpt and not saved.exists():
            shutil.copytree(ckpt, saved)

    run_trial({names.REGULARIZER: names.NONE}, digits, replace(TrainSettings(), epochs=1, batch_size=128), keep)
    _, client, info = store
    run_id = client.create_run(info.experiment_id).info.run_id
    writer = TrialRunWriter(info, example=digits.x_val[:1].astype("float32") / 255.0)
    seen = []
    original = Model.log.__func__
    monkeypatch.setattr(Model, "log", classmethod(lambda cls, *a, **k: (seen.append(sys.stdout),
                                                                       original(cls, *a, **k))[1]))
    capfd.readouterr()
    console = sys.stdout
    writer.runs._log_model(run_id, tune.Checkpoint.from_directory(str(saved)))
    assert seen == [console], "the console's stdout stays in place while a model is logged"
    out = capfd.readouterr().out
    assert "━" not in out and "/step" not in out, out


def test_undelivered_records_are_kept_as_private_json_lines_not_a_pickle(tmp_path):
    """A pickle in a shared output folder (a bind mount in compose) runs code when a resume loads it."""
    import stat

    from ray import tune

    from sweep.tracking.records import Record, record_from_json, record_to_json
    from sweep.tracking.trial_runs import TrialRunWriter

    ckpt_dir = tmp_path / "ckpt"
    ckpt_dir.mkdir()
    records = [Record("start", "t1", run_name="L2 on activity", params={"lambda": 0.01}, attempt=1),
               Record("epoch", "t1", epoch=3, metrics=[("val_accuracy", 0.9, 1700000000000)]),
               Record("end", "t1", state="completed", checkpoint=tune.Checkpoint.from_directory(str(ckpt_dir)))]
    for record in records:
        back = record_from_json(record_to_json(record))
        assert {k: v for k, v in vars(back).items() if k != "checkpoint"} == \
            {k: v for k, v in vars(record).items() if k != "checkpoint"}
    assert record_from_json(record_to_json(records[2])).checkpoint.path == str(ckpt_dir)

    writer = TrialRunWriter.__new__(TrialRunWriter)  # only its queue: no MLflow behind it
    writer._cond = __import__("threading").Condition()
    writer._queue = list(records)
    path = tmp_path / "out" / ".mlflow-pending.jsonl"
    assert writer.save_pending(path) == 3
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes()[:1] == b"{" and b"\x80" not in path.read_bytes()[:2], "JSON, not a pickle"
    writer._queue = []
    assert writer.restore_saved(path) == 3 and not path.exists()
    assert [r.kind for r in writer._queue] == ["start", "epoch", "end"]
    assert writer._queue[1].metrics == [("val_accuracy", 0.9, 1700000000000)]


def test_child_runs_are_named_by_config_and_seed_as_the_console_labels_them():
    from sweep.tracking.tune_callback import run_name
    from trainables.settings import TrainSettings

    settings = TrainSettings(seed=7)
    assert run_name({names.REGULARIZER: names.L2, names.PLACEMENT: names.ACTIVITY, names.LAMBDA: 0.01},
                    settings) == "L2 on activity, λ=0.01 · seed 7", "a search trial trains at train.seed"
    assert run_name({names.REGULARIZER: names.NONE, names.SEED: 9}, settings) == "no regularization · seed 9"


def test_records_a_resume_finds_in_the_pending_file_and_in_rays_state_are_sent_once(store, tmp_path):
    """Before, both copies were queued: the second start counted a second attempt."""
    _, client, info = store
    pending = [start_record("t1", "L2 on kernel, λ=0.01 · seed 0", PARAMS), epoch_record("t1", result(1))]
    saved = TrialRunWriter(info)
    saved._queue = list(pending)
    path = tmp_path / ".mlflow-pending.jsonl"
    assert saved.save_pending(path) == 2
    writer = TrialRunWriter(info)
    assert writer.restore_saved(path) == 2  # the launcher's own file, read first
    writer.restore(pending[:1])  # then Ray's state, saved a moment earlier: the start again
    assert [(r.kind, r.epoch) for r in writer.pending()] == [("start", 0), ("epoch", 1)]
    drain(writer)
    (child,) = children(client, info)
    assert child.data.tags[names.TAG_ATTEMPTS] == "1"
    assert steps(client, child.info.run_id) == [1]
