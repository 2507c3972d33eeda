"""The keep-alive benchmark: its verdict on known times, and a run against a real tracking server."""

from __future__ import annotations

import json

import pytest

from sweep.bench.keepalive import verdict


def test_kept_alive_requests_40_ms_slower_than_fresh_ones_are_the_delayed_ack_stall():
    stalled = verdict({"fresh": [2.5, 2.4, 2.6], "kept_alive": [44.0, 43.8, 44.1]})
    assert stalled == {"fresh_connection_median_ms": 2.5, "kept_alive_median_ms": 44.0, "delayed_ack_stall": True}
    assert not verdict({"fresh": [2.1, 2.3, 2.2], "kept_alive": [1.7, 1.6, 1.8]})["delayed_ack_stall"]
    # a far server is slow on both paths: that is distance, not the stall
    assert not verdict({"fresh": [60.0, 61.0, 62.0], "kept_alive": [58.0, 59.0, 60.0]})["delayed_ack_stall"]


def test_the_benchmark_times_both_paths_of_a_real_server_and_reports_its_own_verdict(tmp_path, monkeypatch):
    """What the report holds is the verdict on the times it measured (no timing threshold here: that is
    the ``bench`` test below)."""
    from sweep.bench import keepalive
    from sweep.bench.__main__ import main
    from tests.servers import mlflow_server

    measured = []
    real = keepalive.request_times
    monkeypatch.setattr(keepalive, "request_times", lambda uri, n: measured.append(real(uri, n)) or measured[-1])
    with mlflow_server(tmp_path / "server") as uri:
        assert main(["keepalive", "--tracking-uri", uri, "--requests", "10", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "keepalive.json").read_text())
    (times,) = measured
    assert len(times["fresh"]) == len(times["kept_alive"]) == 10
    assert {k: report[k] for k in verdict(times)} == verdict(times)
    assert (report["tracking_uri"], report["requests"]) == (uri, 10)


@pytest.mark.bench
def test_a_single_worker_server_has_no_delayed_ack_stall(tmp_path):
    """A timing threshold (30 ms): on a loaded machine it says more about the load than the server."""
    from sweep.bench.__main__ import main
    from tests.servers import mlflow_server

    with mlflow_server(tmp_path / "server") as uri:
        assert main(["keepalive", "--tracking-uri", uri, "--requests", "10", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "keepalive.json").read_text())
    assert report["delayed_ack_stall"] is False, report


def test_an_unreachable_server_or_a_uri_that_is_not_one_is_one_line_with_exit_2(tmp_path):
    import subprocess
    import sys

    from tests.servers import free_port

    for uri, says in ((f"http://127.0.0.1:{free_port()}", "cannot reach"), ("sqlite:///x.db", "not a server")):
        proc = subprocess.run([sys.executable, "-m", "sweep.bench", "keepalive", "--tracking-uri", uri,
                               "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
        lines = (proc.stdout + proc.stderr).strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and says in lines[0], lines
        assert not (tmp_path / "keepalive.json").exists()
