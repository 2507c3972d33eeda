"""Tracking calls that ride out a short MLflow server outage, and fail clearly after a long one.

``call_with_retry`` retries a transient failure (connection refused, timeout, HTTP 5xx) with
exponential backoff until the outage has lasted ``max_outage_s``, then raises ``TrackingOutage``.
``BackgroundSender`` runs those calls on a thread, so a trial keeps training while the server is
away; a long outage surfaces on the trial's next logging call, Ray fails the trial, and retries it
from its last checkpoint. MLflow's own HTTP retries are turned off in trial workers
(``WORKER_MLFLOW_ENV``) so that this module alone decides how long to wait.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from typing import Any, Callable, Optional

from trainables.errors import UserError

#: MLflow error codes a server answers with while it is overloaded, restarting or failing over.
TRANSIENT_CODES = frozenset({"INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED",
                             "DEADLINE_EXCEEDED", "ABORTED", "SERVICE_UNAVAILABLE"})
#: For trial workers: no hidden retries inside MLflow, and no request hangs longer than the limit.
WORKER_MLFLOW_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}
FIRST_DELAY_S = 0.5
MAX_DELAY_S = 8.0


class TrackingOutage(UserError):
    """The tracking server stayed unreachable longer than ``tracking.max_outage_s``."""


def is_transient(exc: BaseException) -> bool:
    """True for failures that a later attempt can cure: network errors and server-side errors."""
    from mlflow.exceptions import MlflowException
    from requests.exceptions import ConnectionError as RequestsConnectionError
    from requests.exceptions import Timeout

    if isinstance(exc, (RequestsConnectionError, Timeout, ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, MlflowException):
        return exc.error_code in TRANSIENT_CODES
    return False


def call_with_retry(
    fn: Callable[[], Any],
    what: str,
    max_outage_s: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    transient: Callable[[BaseException], bool] = is_transient,
) -> Any:
    """``fn()``, retried with backoff on transient errors for at most ``max_outage_s`` seconds."""
    started: Optional[float] = None
    delay = FIRST_DELAY_S
    while True:
        try:
            result = fn()
        except Exception as exc:
            if not transient(exc):
                raise
            now = clock()
            if started is None:
                started = now
                print(f"regsweep: MLflow unreachable while {what}; retrying for up to {max_outage_s:g}s "
                      f"({_first_line(exc)})", file=sys.stderr, flush=True)
            waited = now - started
            if waited >= max_outage_s:
                raise TrackingOutage(
                    f"the MLflow server did not answer for {waited:.0f}s while {what} ({_first_line(exc)})",
                    "bring the server back (the trial is retried from its checkpoint), or raise "
                    "tracking.max_outage_s",
                ) from exc
            sleep(min(delay, max(0.0, max_outage_s - waited)))
            delay = min(delay * 2, MAX_DELAY_S)
            continue
        if started is not None:
            print(f"regsweep: MLflow answers again after {clock() - started:.1f}s; {what} done",
                  file=sys.stderr, flush=True)
        return result


class BackgroundSender:
    """Runs tracking calls in order on one thread, each through ``call_with_retry``.

    The first error is kept and raised on the caller's next ``submit`` or ``drain``, so a trial
    learns of a lost server at its next epoch instead of blocking on it now.
    """

    def __init__(self, max_outage_s: float, call: Callable[..., Any] = call_with_retry) -> None:
        self.max_outage_s = max_outage_s
        self._call = call
        self._queue: "queue.Queue[tuple[Callable[[], Any], str]]" = queue.Queue()
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._work, name="regsweep-mlflow-sender", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], Any], what: str) -> None:
        """Queue ``fn``; raise the error of an earlier call, if one failed for good."""
        self._raise_pending()
        self._queue.put((fn, what))

    def drain(self) -> None:
        """Wait until every queued call is done; raise if one failed for good."""
        self._queue.join()
        self._raise_pending()

    def _raise_pending(self) -> None:
        if self._error is not None:
            raise self._error

    def _work(self) -> None:
        while True:
            fn, what = self._queue.get()
            try:
                if self._error is None:  # after a failure, later calls would only fail or reorder
                    self._call(fn, what, self.max_outage_s)
            except BaseException as exc:  # kept and raised on the trial's thread
                self._error = exc
            finally:
                self._queue.task_done()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0][:200] if text else type(exc).__name__)
