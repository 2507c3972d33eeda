"""Fault injection against the real parts: the CLI, a local Ray runtime and an ``mlflow server`` on
127.0.0.1. A trial worker is SIGKILLed, the driver is SIGKILLed and resumed, the tracking server is
stopped mid-sweep, and a trial diverges; afterwards MLflow must hold every trial exactly once with
a full, duplicate-free step history."""

from __future__ import annotations

import contextlib
import signal
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from sweep.tracking.finish import PENDING_FILE
from tests.cli import launch, start, wait_for
from tests.servers import free_port, mlflow_server
from trainables import names

#: One trial at a time, small batches so an epoch lasts long enough to be interrupted.
COMMON = ("data=digits", "train.batch_size=16", "scheduler=fifo", "search.max_concurrent_trials=1",
          "search.regularizers=[none,l2]", "search.placements=[kernel]", "search.confirm_seeds=0")
#: Logged at every epoch (test_* only at the last).
PER_EPOCH = [m for m in names.TRIAL_METRICS
             if m not in names.LAST_EPOCH_METRICS and m not in names.LAST_OR_EVERY_EPOCH_METRICS]
TERMINAL = {names.STATE_COMPLETED, names.STATE_STOPPED, names.STATE_DIVERGED, names.STATE_ERRORED}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from mlflow.tracking import MlflowClient

    with mlflow_server(tmp_path_factory.mktemp("faults-mlflow")) as uri:
        yield uri, MlflowClient(tracking_uri=uri)


def runs_of(client, experiment: str):
    """(parent runs, child runs) of an experiment."""
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return [], []
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    return ([r for r in runs if r.data.tags.get(names.TAG_ROLE) == names.ROLE_PARENT],
            [r for r in runs if r.data.tags.get(names.TAG_ROLE) == names.ROLE_TRIAL])


def steps(client, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, key))


def assert_full_history(client, child, epochs: int) -> None:
    """Every per-epoch metric at steps 1..epochs, each exactly once; test figures and (one objective, so
    no rung needs it) the removable fraction at the last."""
    for key in PER_EPOCH:
        assert steps(client, child.info.run_id, key) == list(range(1, epochs + 1)), (key, child.info.run_name)
    for key in (*names.LAST_EPOCH_METRICS, *names.LAST_OR_EVERY_EPOCH_METRICS):
        assert steps(client, child.info.run_id, key) == [epochs], key


def logged_epochs(client, experiment: str) -> dict[str, int]:
    """Child run id -> highest epoch logged so far (tolerates a server that is briefly away)."""
    try:
        _, children = runs_of(client, experiment)
        return {c.info.run_id: max(steps(client, c.info.run_id, names.EPOCH), default=0) for c in children}
    except Exception:
        return {}


def wait_for_first_epoch(client, experiment: str, proc, log: Path) -> None:
    wait_for(lambda: any(e >= 1 for e in logged_epochs(client, experiment).values()), 300,
             "a trial's first epoch in MLflow", proc, log)


def trial_workers() -> list[psutil.Process]:
    """Ray worker processes that are running a trial right now (Ray names them after the actor)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if cmd.startswith("ray::ImplicitFunc"):
            found.append(proc)
    return found


def kill_tree(proc) -> int:
    """SIGKILL a launched process and every descendant (its local Ray), as a crashed machine would;
    return the launched process's exit status."""
    descendants = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGKILL)
    for child in descendants:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.send_signal(signal.SIGKILL)
    status = proc.wait(timeout=30)
    psutil.wait_procs(descendants, timeout=30)
    return status


def finish(proc, log: Path, timeout: float = 600) -> str:
    proc.wait(timeout=timeout)
    return log.read_text(errors="replace")


@pytest.mark.slow
def test_a_killed_trial_worker_and_a_server_outage_mid_sweep_lose_nothing(tmp_path):
    """One sweep, two faults. A trial worker is SIGKILLed at its first epoch: Ray retries the trial into
    the same child run (attempt 2). Then the tracking server stops for 6 s while trials train: the
    driver's one writer holds the records and sends them when it is back, every epoch exactly once."""
    from mlflow.tracking import MlflowClient

    exp, epochs = "fault-worker-and-outage", 4
    port, root = free_port(), tmp_path / "mlflow"
    uri = f"http://127.0.0.1:{port}"
    client = MlflowClient(tracking_uri=uri)
    log = tmp_path / "sweep.log"
    with mlflow_server(root, port):
        proc = start(tmp_path, log, *COMMON, "search.num_samples=2", f"train.epochs={epochs}", "cluster.max_failures=2",
                     f"tracking.uri={uri}", f"tracking.experiment={exp}", "name=worker-and-outage")
        wait_for_first_epoch(client, exp, proc, log)
        victims = trial_workers()
        assert victims, "a trial worker process is running"
        for victim in victims:
            victim.kill()
        # the retried trial trains on: an epoch past the first is logged before the server goes
        wait_for(lambda: any(e >= 2 for e in logged_epochs(client, exp).values()), 300,
                 "an epoch of the retried trial", proc, log)
    down_at = time.monotonic()  # the server is stopped here, mid-trial
    time.sleep(6)
    with mlflow_server(root, port):
        outage_s = time.monotonic() - down_at
        out = finish(proc, log)
        assert proc.returncode == 0, out[-4000:]
        parents, children = runs_of(client, exp)
        assert len(parents) == 1 and len(children) == 2
        assert len({c.data.tags[names.TAG_TRIAL_ID] for c in children}) == 2
        attempts = sorted(int(c.data.tags[names.TAG_ATTEMPTS]) for c in children)
        assert attempts == [1, 2], "the killed trial ran twice, into the same child run"
        for child in children:
            assert child.data.tags[names.TAG_STATE] == names.STATE_COMPLETED
            assert_full_history(client, child, epochs)
    assert outage_s > 6
    assert "MLflow unreachable while" in out and "MLflow answers again" in out, "the outage hit a trial"
    assert "backfilled" not in out, "the driver's one writer delivered everything"
    table = pd.read_csv(tmp_path / "outputs" / "worker-and-outage" / "results.csv")
    assert list(table["state"]) == [names.STATE_COMPLETED] * 2 and set(table["epochs"]) == {epochs}


def sweep_then_stop_server(tmp_path: Path, experiment: str, *overrides: str):
    """Start a sweep against a fresh server, stop the server once the first epoch is logged, and
    return (sweep process, its log, client, server root, port) so the test can bring it back."""
    from mlflow.tracking import MlflowClient

    port, root = free_port(), tmp_path / "mlflow"
    uri = f"http://127.0.0.1:{port}"
    client = MlflowClient(tracking_uri=uri)
    log = tmp_path / "sweep.log"
    with mlflow_server(root, port):
        proc = start(tmp_path, log, *COMMON, *overrides, f"tracking.uri={uri}", f"tracking.experiment={experiment}")
        wait_for_first_epoch(client, experiment, proc, log)
    return proc, log, client, root, port


@pytest.mark.slow
def test_diverging_config_ends_diverged_once_without_retries(server, tmp_path):
    uri, client = server
    exp = "fault-divergence"
    proc = launch(tmp_path, "data=digits", "train.batch_size=64", "train.epochs=3", "search.num_samples=1",
                  "search.baseline=false", "search.confirm_seeds=0", "search.regularizers=[l1]", "search.placements=[kernel]", "search.lambda_low=1e37",
                  "search.lambda_high=1e38", "cluster.max_failures=3", f"tracking.uri={uri}",
                  f"tracking.experiment={exp}", "name=diverge")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]  # no usable trial
    assert "no trial produced a usable result" in proc.stdout
    table = pd.read_csv(tmp_path / "outputs" / "diverge" / "results.csv")
    assert list(table["state"]) == [names.STATE_DIVERGED] and list(table["epochs"]) == [1]
    _, children = runs_of(client, exp)
    assert len(children) == 1
    child = children[0]
    assert child.data.tags[names.TAG_STATE] == names.STATE_DIVERGED and child.info.status == "FAILED"
    assert child.data.tags[names.TAG_ATTEMPTS] == "1", "a diverged trial is not retried"
    assert steps(client, child.info.run_id, names.EPOCH) == [1]


@pytest.mark.slow
def test_outage_longer_than_the_limit_is_said_and_every_record_is_sent_when_the_server_is_back(tmp_path):
    exp, epochs = "fault-long-outage", 4
    args = (*COMMON, "search.regularizers=[l2]", "search.baseline=false", "search.num_samples=1",
            f"train.epochs={epochs}", "tracking.max_outage_s=2", "cluster.max_failures=20", "name=long-outage")
    proc, log, client, root, port = sweep_then_stop_server(tmp_path, exp, *args[len(COMMON):])
    wait_for(lambda: "did not answer for" in log.read_text(errors="replace"), 120,
             "the driver to report the long outage", proc, log)
    # the trials never wait on MLflow: the sweep trains to the end, waits tracking.max_outage_s for the
    # server, then keeps the undelivered records on disk and says how to send them (exit 1)
    out = finish(proc, log)
    assert proc.returncode == 1, out[-4000:]
    assert "tracking.max_outage_s" in out and "resume=true" in out
    assert (tmp_path / "outputs" / "long-outage" / "results.csv").exists()
    with mlflow_server(root, port):
        uri = f"http://127.0.0.1:{port}"
        resumed = launch(tmp_path, *args, f"tracking.uri={uri}", f"tracking.experiment={exp}", "resume=true")
        assert resumed.returncode == 0, resumed.stdout[-4000:] + resumed.stderr[-4000:]
        parents, children = runs_of(client, exp)
        assert len(parents) == 1 and parents[0].info.status == "FINISHED"
        assert len(children) == 1
        child = children[0]
        assert child.data.tags[names.TAG_STATE] == names.STATE_COMPLETED
        assert int(child.data.tags[names.TAG_ATTEMPTS]) == 1, "the trial trained on through the outage"
        assert_full_history(client, child, epochs)
    assert not (tmp_path / "outputs" / "long-outage" / PENDING_FILE).exists()


@pytest.mark.slow
def test_an_interrupted_then_killed_launcher_resumes_into_the_same_parent_without_rerunning_a_trial(server, tmp_path):
    """One sweep, interrupted twice, resumed twice.

    1. Ctrl-C (SIGINT) after the first finished trial. Tune used to catch it and return normally, so
       the sweep ran its confirmation, wrote a summary as if complete, ended FINISHED, exit 0. Now:
       exit 130, no confirmation, no summary, the parent KILLED.
    2. The resume, SIGKILLed with its local Ray during confirmation round 2 (a near no-op candidate,
       λ=1e-5 on activity, ties with no regularization, and futility is off, so round 1 cannot decide).
    3. The second resume restores round 1 from Ray's state, finishes round 2 with the same decisions,
       into the same parent run; no trial that had finished is trained again, and MLflow and
       results.csv hold the same figures, value by value."""
    uri, client = server
    exp, epochs, n = "fault-interrupts", 2, 2
    args = (*COMMON, "search.regularizers=[l2]", "search.placements=[activity]", f"search.num_samples={n}",
            "search.article_points=false", "search.lambda_low=1e-6",
            "search.points_to_evaluate=[{regularizer: l2, placement: activity, lambda: 1e-5}]",
            f"train.epochs={epochs}", "search.confirm_seeds=4", "search.confirm_max_seeds=5", "search.budget_epochs=0",
            "search.futility=0",
            f"tracking.uri={uri}", f"tracking.experiment={exp}", "name=interrupts")
    out_dir = tmp_path / "outputs" / "interrupts"

    def finished_children() -> list:
        try:
            _, children = runs_of(client, exp)
        except Exception:
            return []
        return [c for c in children if c.data.tags.get(names.TAG_STATE) == names.STATE_COMPLETED]

    log = tmp_path / "first.log"
    proc = start(tmp_path, log, *args)
    wait_for(lambda: ": completed, epoch" in log.read_text(errors="replace"), 400, "a finished trial", proc, log)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=300) == 130, log.read_text()[-4000:]
    text = log.read_text(errors="replace")
    assert "regsweep: interrupted; continue with the same command plus resume=true" in text
    assert "confirming" not in text and "=== sweep interrupts" not in text, "no confirmation and no summary"
    assert not (out_dir / "results.csv").exists()
    parents, _ = runs_of(client, exp)
    assert len(parents) == 1 and parents[0].info.status == "KILLED"
    done_at_ctrl_c = finished_children()

    log = tmp_path / "second.log"
    proc = start(tmp_path, log, *args, "resume=true")
    wait_for(lambda: "confirmation round 2" in log.read_text(errors="replace"), 600, "round 2", proc, log)
    time.sleep(4)
    done_before = finished_children()
    assert kill_tree(proc) == -signal.SIGKILL
    assert "resuming sweep interrupts" in log.read_text(errors="replace")

    resumed = launch(tmp_path, *args, "resume=true")
    assert resumed.returncode == 0, resumed.stdout[-4000:] + resumed.stderr[-4000:]
    assert "resuming sweep interrupts" in resumed.stdout
    assert "confirmation round 1" in resumed.stdout and "confirmation round 2" in resumed.stdout
    total = n + 8  # the search, then round 1 (2 configs x seeds 1, 2, 3) and round 2 (seed 4)
    assert f"=== sweep interrupts: {total} trials" in resumed.stdout
    table = pd.read_csv(out_dir / "results.csv", dtype={names.COL_TRIAL: str})
    confirm = table[table[names.COL_PHASE] == names.PHASE_CONFIRM]
    assert sorted(confirm[names.SEED].unique()) == [1, 2, 3, 4], "round 1 (seeds 1, 2, 3) and round 2 (seed 4)"
    assert len(confirm) == 8 and (confirm[names.COL_EPOCHS] == epochs).all()
    assert "confirmation: 4 paired seeds of at most 4, 2 rounds" in (out_dir / "verdict.md").read_text()

    parents, children = runs_of(client, exp)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == total and len({c.data.tags[names.TAG_TRIAL_ID] for c in children}) == total
    assert all(c.data.tags[names.TAG_STATE] in TERMINAL for c in children)
    confirm_ids = set(confirm[names.COL_TRIAL])
    splits = sorted(int(c.data.params[names.SPLIT_SEED]) for c in children if c.data.tags[names.TAG_TRIAL_ID] in confirm_ids)
    assert splits == [1, 1, 2, 2, 3, 3, 4, 4], "through both resumes, each seed on its own split, shared by the pair"
    by_trial = {c.data.tags[names.TAG_TRIAL_ID]: c for c in children}
    assert done_before and len(done_before) >= n, "the search had finished before the kill"
    seen = {c.info.run_name: (c.data.tags[names.TAG_TRIAL_ID], c.data.tags[names.TAG_ATTEMPTS]) for c in children}
    at_kill = {c.data.tags[names.TAG_TRIAL_ID]: c.data.tags[names.TAG_ATTEMPTS] for c in done_before}
    at_ctrl_c = {c.data.tags[names.TAG_TRIAL_ID]: c.data.tags[names.TAG_ATTEMPTS] for c in done_at_ctrl_c}
    assert at_ctrl_c and set(at_ctrl_c.values()) == {"1"}, (at_ctrl_c, seen)
    for trial, attempts in {**at_kill, **at_ctrl_c}.items():  # a finished trial is never trained again
        assert by_trial[trial].data.tags[names.TAG_ATTEMPTS] == attempts, (trial, at_ctrl_c, at_kill, seen)
    for child in children:
        if child.data.tags[names.TAG_STATE] == names.STATE_COMPLETED:
            assert_full_history(client, child, epochs)
    assert len(table) == total and set(table[names.COL_TRIAL]) == set(by_trial)
    # MLflow and the summary hold the same figures, value by value: each completed trial's last epoch
    # in MLflow's history is the row in results.csv (a rerun trial would differ from what MLflow kept)
    for row in table[table["state"] == names.STATE_COMPLETED].itertuples():
        child = by_trial[row.trial]
        for metric in (names.VAL_ACCURACY, names.TEST_ACCURACY, names.SPARSITY):
            history = client.get_metric_history(child.info.run_id, metric)
            last = max(history, key=lambda m: m.step).value if history else child.data.metrics[metric]
            assert last == pytest.approx(getattr(row, metric), rel=1e-6), (row.trial, metric, last, getattr(row, metric))
