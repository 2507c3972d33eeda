"""What a person sees while a sweep runs: one compact live view instead of Ray's full output.

By default (``console.verbose=false``) Ray's status tables, its per-trial configuration boxes, the
workers' TensorFlow/CUDA start-up lines and checkpoint messages stay out of the terminal: workers'
output is not forwarded to the driver (it stays in Ray's session logs, whose folder is printed at the
end), Tune reports at verbosity 0, and the driver's own TensorFlow start-up goes to a log file. What
remains is a ``rich`` view of the trials (state, epoch, val_accuracy) under a progress bar for the
whole sweep, then the summary and the verdict. Where the output is not a terminal (CI logs, a pipe),
the same view is one line per finished trial. ``--verbose`` brings Ray's full output back.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Optional

from ray.tune import Callback

from sweep.common.labels import describe
from sweep.common.states import end_state
from trainables import names
from trainables.tf_runtime import QUIET_ENV

#: Rows of the live table at most (the running trials first, then the latest finished ones).
MAX_ROWS = 14
#: Under the sweep's log folder: what Tune logs in the compact mode (errored trials' tracebacks).
TUNE_LOG = "ray-tune.log"

_BOARDS: dict[str, "Board"] = {}


@dataclass
class Row:
    trial: str
    config: str
    state: str = "running"
    epoch: int = 0
    val_accuracy: Optional[float] = None
    error: Optional[str] = None
    """An errored trial's exception, in one line (the traceback is in the sweep's Tune log)."""


@dataclass
class Board:
    """The trials of one sweep as the live view shows them."""

    total: int
    epochs: int
    traceback_log: str = TUNE_LOG
    """Where errored trials' tracebacks are, as the board names it."""
    rows: dict[str, Row] = field(default_factory=dict)
    done: int = 0
    live: Any = None
    console: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=sys.stdout)
        if self.console.is_terminal:
            self.live = Live(self.render(), console=self.console, refresh_per_second=4, transient=False)
            self.live.start()

    def stop(self) -> None:
        if self.live is not None:
            self.live.update(self.render(), refresh=True)
            self.live.stop()
            self.live = None

    def add(self, extra: int) -> None:
        """More trials (the confirmation runs) join the same view."""
        with self.lock:
            self.total += extra

    def update(self, trial: str, config: dict[str, Any], **changes: Any) -> None:
        with self.lock:
            row = self.rows.setdefault(trial, Row(trial, describe(config)))
            finished = row.state == "running" and changes.get("state", "running") != "running"
            for key, value in changes.items():
                setattr(row, key, value)
            if finished:
                self.done += 1
                if self.live is None and self.console is not None:
                    self.console.print(self.line(row), highlight=False, soft_wrap=True)
        if self.live is not None:
            self.live.update(self.render())

    def line(self, row: Row) -> str:
        acc = "-" if row.val_accuracy is None else f"{row.val_accuracy:.4f}"
        return (f"regsweep: trial {self.done}/{self.total} {row.trial} {row.config}: {row.state}, "
                f"epoch {row.epoch}/{self.epochs}, val_accuracy {acc}"
                + (f" ({row.error}; traceback in {self.traceback_log})" if row.error else ""))

    def render(self) -> Any:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("trial", "config", "state", "epoch", "val_accuracy"):
            table.add_column(column, justify="right" if column in ("epoch", "val_accuracy") else "left")
        rows = list(self.rows.values())
        running = [r for r in rows if r.state == "running"]
        finished = [r for r in rows if r.state != "running"]
        shown = running + finished[-max(0, MAX_ROWS - len(running)):]
        for r in shown:
            style = {"running": "cyan", names.STATE_COMPLETED: "green"}.get(r.state, "yellow")
            table.add_row(r.trial, r.config, Text(r.state, style=style), f"{r.epoch}/{self.epochs}",
                          "-" if r.val_accuracy is None else f"{r.val_accuracy:.4f}")
        hidden = len(rows) - len(shown)
        bar = ProgressBar(total=max(self.total, 1), completed=self.done, width=40)
        head = Text(f"trials {self.done}/{self.total} done, {len(running)} running"
                    + (f" ({hidden} earlier not shown)" if hidden else ""))
        return Group(head, bar, table)


def error_line(error_file: Optional[str], width: int = 100) -> str:
    """The exception that ended a trial, from the last line of Ray's error file, cut to ``width``."""
    try:
        lines = [line.strip() for line in open(error_file or "", encoding="utf-8", errors="replace")]
    except OSError:
        return "error"
    last = next((line for line in reversed(lines) if line), "error")
    return last if len(last) <= width else last[: width - 1] + "…"


def open_board(key: str, total: int, epochs: int, traceback_log: str = "") -> Board:
    board = Board(total=total, epochs=epochs, traceback_log=traceback_log or TUNE_LOG)
    _BOARDS[key] = board
    board.start()
    return board


def close_board(key: str) -> None:
    board = _BOARDS.pop(key, None)
    if board is not None:
        board.stop()


class ConsoleView(Callback):
    """Feeds Tune's trial events to the board registered under ``key`` (found again on resume)."""

    def __init__(self, key: str) -> None:
        self.key = key

    def _board(self) -> Optional[Board]:
        return _BOARDS.get(self.key)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        board = self._board()
        if board is not None:
            board.update(trial.trial_id, dict(trial.config or {}), state="running")

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        board = self._board()
        if board is not None and result.get(names.EPOCH) is not None:
            board.update(trial.trial_id, dict(trial.config or {}), epoch=int(result[names.EPOCH]),
                         val_accuracy=_float(result.get(names.VAL_ACCURACY)))

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._end(trial, error=False)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._end(trial, error=True)

    def _end(self, trial: Any, error: bool) -> None:
        board = self._board()
        if board is not None:
            last = trial.last_result or {}
            board.update(trial.trial_id, dict(trial.config or {}), state=end_state(last, error),
                         epoch=int(last.get(names.EPOCH) or 0), val_accuracy=_float(last.get(names.VAL_ACCURACY)),
                         error=error_line(getattr(trial, "error_file", None)) if error else None)

    def __getstate__(self) -> dict:
        return {"key": self.key}


def go_quiet(log_dir: str) -> None:
    """The compact mode's settings for this driver process: the driver's TensorFlow start-up into
    ``log_dir``, Tune's legacy reporter at verbosity 0 (the new one prints its configuration box
    whatever the verbosity), Optuna's per-study info lines off, and Tune's own log (an errored
    trial's traceback, dozens of lines each) into ``log_dir``: the board says one line per trial."""
    import logging

    os.makedirs(log_dir, exist_ok=True)
    os.environ[QUIET_ENV] = os.path.join(log_dir, "driver-stderr.log")
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    logging.getLogger("optuna").setLevel(logging.WARNING)
    tune_logger = logging.getLogger("ray.tune")
    path = os.path.join(log_dir, TUNE_LOG)
    if not any(getattr(h, "baseFilename", None) == os.path.abspath(path) for h in tune_logger.handlers):
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        tune_logger.addHandler(handler)
    tune_logger.propagate = False


def _float(value: Any) -> Optional[float]:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
