"""The lease on a sweep's MLflow parent run (``sweep.tracking.lease``): one launcher drives a sweep
even across machines that share no lock, and a dead launcher's lease lapses. Against a real MLflow
store (SQLite); the end-to-end refusal goes through the CLI."""

from __future__ import annotations

import os
import threading
import time

import pytest

from sweep.tracking import lease
from sweep.tracking.lease import Lease, LeaseValue, check_free
from tests.cli import launch
from trainables import names
from trainables.errors import ConfigError


@pytest.fixture
def parent(tmp_path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.create_run(client.create_experiment("lease"), run_name="s")
    return client, run.info.run_id


def _tag(client, run_id):
    return client.get_run(run_id).data.tags.get(names.TAG_LEASE)


def test_a_live_lease_of_another_launcher_refuses_naming_who_and_until_when(parent):
    client, run_id = parent
    check_free(client, run_id, "s", "me:1:aaaa")  # no lease
    client.set_tag(run_id, names.TAG_LEASE, LeaseValue("gpu-box:4242:bbbb", time.time() + 300).text())
    with pytest.raises(ConfigError, match=r"name: sweep 's' is being driven by another launcher \(host gpu-box, "
                                          r"pid 4242; .* holds until \d\d:\d\d:\d\d UTC\).*run the same command again after"):
        check_free(client, run_id, "s", "me:1:aaaa")
    check_free(client, run_id, "s", "gpu-box:4242:bbbb")  # its own
    check_free(client, run_id, "s", "me:1:aaaa", now=time.time() + 301)  # lapsed


def test_a_lease_whose_process_died_on_this_host_is_stale_at_once(parent):
    """A launcher killed here (SIGKILL, a crash) leaves a live-looking lease: a resume right after it
    on the same host goes ahead; the same lease from another host would be refused."""
    import socket
    import subprocess
    import sys

    client, run_id = parent
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    client.set_tag(run_id, names.TAG_LEASE,
                   LeaseValue(f"{socket.gethostname()}:{gone.pid}:dddd", time.time() + 300).text())
    check_free(client, run_id, "s", "me:1:aaaa")
    client.set_tag(run_id, names.TAG_LEASE, LeaseValue(f"{socket.gethostname()}:{os.getpid()}:eeee",
                                                       time.time() + 300).text())
    with pytest.raises(ConfigError):  # alive here: refused
        check_free(client, run_id, "s", "me:1:aaaa")


def test_the_holder_renews_while_it_runs_and_removes_the_tag_at_the_end(parent, monkeypatch):
    client, run_id = parent
    monkeypatch.setattr(lease, "RENEW_S", 0.2)
    monkeypatch.setattr(lease, "SETTLE_S", 0.0)
    held = Lease(client, run_id, "s", "me:1:aaaa").acquire()
    first = LeaseValue.parse(_tag(client, run_id))
    assert first is not None and first.holder == "me:1:aaaa" and first.until > time.time() + lease.LEASE_S - 5
    time.sleep(1.5)
    renewed = LeaseValue.parse(_tag(client, run_id))
    assert renewed is not None and renewed.until > first.until
    with pytest.raises(ConfigError):
        Lease(client, run_id, "s", "other:2:cccc").acquire()
    held.release()
    assert _tag(client, run_id) is None
    Lease(client, run_id, "s", "other:2:cccc").acquire().release()


def test_release_keeps_a_lease_that_another_launcher_took_after_a_lapse(parent, monkeypatch):
    client, run_id = parent
    monkeypatch.setattr(lease, "SETTLE_S", 0.0)
    mine = Lease(client, run_id, "s", "me:1:aaaa").acquire()
    client.set_tag(run_id, names.TAG_LEASE, LeaseValue("other:2:cccc", time.time() + 100).text())
    mine._stop.set()
    mine.release()
    assert LeaseValue.parse(_tag(client, run_id)).holder == "other:2:cccc"


def test_of_two_launchers_taking_it_at_once_exactly_one_drives(parent):
    client, run_id = parent
    start, outcomes = threading.Barrier(2), {}

    def take(holder: str) -> None:
        start.wait()
        try:
            outcomes[holder] = Lease(client, run_id, "s", holder).acquire()
        except ConfigError:
            outcomes[holder] = None
        except Exception as exc:  # anything else is a failure of the lease, not a refusal
            outcomes[holder] = exc

    threads = [threading.Thread(target=take, args=(h,)) for h in ("a:1:1111", "b:2:2222")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 2 and not any(isinstance(o, Exception) for o in outcomes.values()), outcomes
    winners = [h for h, won in outcomes.items() if won is not None]
    assert len(winners) == 1, outcomes
    assert LeaseValue.parse(_tag(client, run_id)).holder == winners[0]
    outcomes[winners[0]].release()


@pytest.mark.slow
def test_a_resume_while_another_launcher_holds_the_sweep_is_one_line_with_exit_2(local_sweep):
    """Through the CLI, against the session's shared local sweep: the parent run is not touched (status,
    command tag) by the refused launch. The planted lease is removed afterwards."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=local_sweep.store_uri)
    (parent,) = [r for r in client.search_runs([client.get_experiment_by_name("regsweep").experiment_id])
                 if r.data.tags.get(names.TAG_ROLE) == names.ROLE_PARENT]
    assert names.TAG_LEASE not in parent.data.tags, "the lease is removed when the sweep ends"
    client.set_tag(parent.info.run_id, names.TAG_LEASE, LeaseValue("gpu-box:4242:bbbb", time.time() + 600).text())
    try:
        refused = launch(local_sweep.root, *local_sweep.args, "resume=true")
    finally:
        client.delete_tag(parent.info.run_id, names.TAG_LEASE)
    assert refused.returncode == 2, refused.stdout[-3000:] + refused.stderr[-3000:]
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "host gpu-box, pid 4242" in lines[0] and "Fix:" in lines[0], refused.stderr
    after = client.get_run(parent.info.run_id)
    assert after.info.status == parent.info.status
    assert after.data.tags[names.TAG_COMMAND] == parent.data.tags[names.TAG_COMMAND]
