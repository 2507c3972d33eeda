"""The one retry policy for MLflow calls, used by the driver's only writer (``sweep.tracking.trial_runs``) and
for the parent run: retry a transient failure (connection refused, timeout, HTTP 5xx) with
exponential backoff (tenacity) until the outage has lasted ``max_outage_s``, then raise
``TrackingOutage``. MLflow's own hidden HTTP retries are turned off in the driver
(``DRIVER_MLFLOW_ENV``), so that this module alone decides how long to wait.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Optional

from trainables.errors import UserError

#: MLflow error codes a server answers with while it is overloaded, restarting or failing over.
TRANSIENT_CODES = frozenset({"INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED",
                             "DEADLINE_EXCEEDED", "ABORTED", "SERVICE_UNAVAILABLE"})
#: For the driver: no hidden retries inside MLflow, and no request hangs longer than 30 s.
DRIVER_MLFLOW_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}
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
    announce: bool = True,
) -> Any:
    """``fn()``, retried with backoff on transient errors for at most ``max_outage_s`` seconds.

    The first failure and the recovery are each said once on stderr (``announce=False`` leaves out
    the first, for a caller that already said it)."""
    import tenacity

    first_failure: list[float] = []

    def since_first() -> float:
        return clock() - first_failure[0] if first_failure else 0.0

    def note_failure(state: tenacity.RetryCallState) -> None:
        if first_failure:
            return
        first_failure.append(clock())
        if announce:
            exc = state.outcome.exception() if state.outcome else None
            _say(f"MLflow unreachable while {what}; retrying for up to {max_outage_s:g}s ({_first_line(exc)})")

    backoff = tenacity.wait_exponential(multiplier=FIRST_DELAY_S, max=MAX_DELAY_S)
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(transient),
        after=note_failure,
        stop=lambda state: since_first() >= max_outage_s,
        wait=lambda state: min(backoff(state), max(0.0, max_outage_s - since_first())),
        sleep=sleep,
    )
    try:
        result = retrying(fn)
    except tenacity.RetryError as exc:
        last = exc.last_attempt.exception()
        raise TrackingOutage(
            f"the MLflow server did not answer for {since_first():.0f}s while {what} ({_first_line(last)})",
            "bring the server back, or raise tracking.max_outage_s",
        ) from last
    if first_failure:
        _say(f"MLflow answers again after {since_first():.1f}s; {what} done")
    return result


def _say(text: str) -> None:
    print(f"regsweep: {text}", file=sys.stderr, flush=True)


def _first_line(exc: Optional[BaseException]) -> str:
    if exc is None:
        return "no answer"
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
