"""Ctrl-C during a sweep: Tune saves its state and stops, and the launcher knows it was interrupted.

Tune catches SIGINT itself and lets ``Tuner.fit()`` return normally, so a sweep stopped half-way
used to run its confirmation phase, write its summary as complete, end its parent run FINISHED and
exit 0. Here Tune's SIGINT handler is off (``TUNE_DISABLE_SIGINT_HANDLER=1``, in
``tuner.DRIVER_TUNE_ENV``) and the launcher's own handler records the interrupt, then sends SIGUSR1:
Tune's documented graceful stop, which saves the experiment state as its SIGINT handler would. After
``fit()`` returns, ``raise_if_interrupted`` turns the record into ``KeyboardInterrupt``: the parent
run ends KILLED, undelivered records are kept for the resume, and the CLI exits 130. A second
Ctrl-C stops at once.
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator


class Interrupt:
    """Whether Ctrl-C (SIGINT) arrived while the guard was on."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def handle(self, signum: int, frame: Any) -> None:
        self.event.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C: at once
        if hasattr(signal, "SIGUSR1"):
            os.kill(os.getpid(), signal.SIGUSR1)  # Tune's own graceful stop (it saves the state)

    def raise_if_interrupted(self) -> None:
        """Between phases: stop here as an interrupted sweep, not as a finished one."""
        if self.event.is_set():
            raise KeyboardInterrupt


@contextmanager
def interrupt_guard() -> Iterator[Interrupt]:
    """Our SIGINT handler for the block (only from the main thread, where signals are handled)."""
    interrupt = Interrupt()
    if threading.current_thread() is not threading.main_thread():
        yield interrupt
        return
    previous = signal.signal(signal.SIGINT, interrupt.handle)
    try:
        yield interrupt
    finally:
        signal.signal(signal.SIGINT, previous)
