"""The retry policy for tracking calls, with a fake clock and a fake flaky call (our own logic only;
the real server outage is in test_faults.py)."""

from __future__ import annotations

import threading

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2 as codes

from trainables.retry import BackgroundSender, TrackingOutage, call_with_retry, is_transient


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def flaky(failures: int, exc: Exception):
    calls = {"n": 0}

    def fn():
        calls["n"] += 1
        if calls["n"] <= failures:
            raise exc
        return "ok"

    return fn, calls


def test_transient_errors_are_retried_with_growing_backoff_until_success():
    clock = FakeClock()
    fn, calls = flaky(4, MlflowException("connection refused", error_code=codes.INTERNAL_ERROR))
    assert call_with_retry(fn, "logging", 60, sleep=clock.sleep, clock=clock) == "ok"
    assert calls["n"] == 5
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0]


def test_an_outage_longer_than_the_limit_raises_a_clear_tracking_outage():
    clock = FakeClock()
    fn, calls = flaky(10**6, ConnectionError("refused"))
    with pytest.raises(TrackingOutage) as err:
        call_with_retry(fn, "logging epoch 3", 20, sleep=clock.sleep, clock=clock)
    assert "did not answer for 20s while logging epoch 3" in str(err.value)
    assert "tracking.max_outage_s" in str(err.value)
    assert max(clock.sleeps) <= 8.0 and 20 <= clock.now < 29


def test_a_permanent_error_is_raised_at_once():
    clock = FakeClock()
    fn, calls = flaky(1, MlflowException("bad param", error_code=codes.INVALID_PARAMETER_VALUE))
    with pytest.raises(MlflowException):
        call_with_retry(fn, "logging", 60, sleep=clock.sleep, clock=clock)
    assert calls["n"] == 1 and clock.sleeps == []


def test_transient_classification():
    assert is_transient(MlflowException("x", error_code=codes.TEMPORARILY_UNAVAILABLE))
    assert is_transient(TimeoutError())
    assert not is_transient(MlflowException("x", error_code=codes.RESOURCE_DOES_NOT_EXIST))
    assert not is_transient(ValueError("bug"))


def test_background_sender_keeps_order_and_reports_a_failure_on_the_next_call():
    done: list[int] = []
    gate = threading.Event()

    def call(fn, what, limit):
        gate.wait(5)
        return fn()

    sender = BackgroundSender(60, call=call)
    for i in range(3):
        sender.submit(lambda i=i: done.append(i), f"item {i}")
    assert done == []  # the caller did not wait for the (blocked) server
    gate.set()
    sender.drain()
    assert done == [0, 1, 2]

    def fail():
        raise TrackingOutage("the MLflow server did not answer", "bring it back")

    sender.submit(fail, "epoch 4")
    sender.submit(lambda: done.append(5), "epoch 5")
    with pytest.raises(TrackingOutage):
        sender.drain()
    assert done == [0, 1, 2], "nothing is sent after a failure, so nothing is sent out of order"
    with pytest.raises(TrackingOutage):
        sender.submit(lambda: None, "epoch 6")
