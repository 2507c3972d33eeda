"""Running the real entry point, ``python -m sweep.launch``, as a user would: a child process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

from tests.conftest import REPO


def launch_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", **extra}


def launch(cwd: Path, *overrides: str, timeout: int = 900, env: Optional[dict[str, str]] = None
           ) -> subprocess.CompletedProcess:
    """Run one sweep to the end; return the finished process with its output."""
    return subprocess.run([sys.executable, "-m", "sweep.launch", *overrides], cwd=cwd, env=env or launch_env(),
                          capture_output=True, text=True, timeout=timeout)


def start(cwd: Path, log: Path, *overrides: str) -> subprocess.Popen:
    """Start a sweep in its own session (so a test can kill all of it); output goes to ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "sweep.launch", *overrides], cwd=cwd, env=launch_env(),
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(check: Callable[[], Any], timeout: float, what: str, proc: Optional[subprocess.Popen] = None,
             log: Optional[Path] = None) -> Any:
    """Poll ``check`` until it returns something truthy; fail with the sweep's log tail otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.3)
    tail = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}\n{tail}")
