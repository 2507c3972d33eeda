"""The one retry policy for MLflow calls (tenacity, in sweep.tracking.retry), with a fake clock and a fake
flaky call (our own logic only; the real server outage is in test_faults.py)."""

from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2 as codes

from sweep.tracking.retry import TrackingOutage, call_with_retry, is_transient


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


def test_the_first_failure_and_the_recovery_are_each_said_once(capsys):
    clock = FakeClock()
    fn, _ = flaky(3, ConnectionError("refused"))
    call_with_retry(fn, "logging epoch 2 of trial t1", 60, sleep=clock.sleep, clock=clock)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    assert err[0].startswith("regsweep: MLflow unreachable while logging epoch 2 of trial t1; retrying for up to 60s")
    assert err[1] == "regsweep: MLflow answers again after 3.5s; logging epoch 2 of trial t1 done"
