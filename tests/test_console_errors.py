"""An errored trial is one line in the compact console, naming its exception and where its traceback
is; Tune's traceback (dozens of lines per trial) goes to the sweep's log, not the terminal."""

from __future__ import annotations

import logging

import pytest

from sweep.runtime.console import TUNE_LOG, Board, Row, error_line, go_quiet

TRACEBACK = """Traceback (most recent call last):
  File "trainable.py", line 127, in run_trial
    history = model.fit(
TypeError: Cannot convert a list containing a tensor of dtype float16 to float32

"""


@pytest.fixture
def quiet_logs(tmp_path, monkeypatch):
    """go_quiet on a temp log folder, with the environment and Tune's logger restored afterwards."""
    monkeypatch.setenv("RAY_AIR_NEW_OUTPUT", "1")
    tune_logger = logging.getLogger("ray.tune")
    handlers, propagate = list(tune_logger.handlers), tune_logger.propagate
    go_quiet(str(tmp_path))
    yield tmp_path
    for handler in tune_logger.handlers:
        if handler not in handlers:
            handler.close()
    tune_logger.handlers, tune_logger.propagate = handlers, propagate


def test_tunes_trial_tracebacks_go_to_the_log_not_the_terminal(quiet_logs, capfd):
    try:
        raise TypeError("Cannot convert a list containing a tensor of dtype float16 to float32")
    except TypeError as exc:
        logging.getLogger("ray.tune.execution.tune_controller").error("Trial task failed for trial t1",
                                                                      exc_info=exc)
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and "Trial task failed" not in out + err
    logged = (quiet_logs / TUNE_LOG).read_text()
    assert "Trial task failed for trial t1" in logged and "Traceback (most recent call last)" in logged


def test_an_errored_trial_is_one_line_with_its_exception_and_the_log(tmp_path):
    error_file = tmp_path / "error.txt"
    error_file.write_text(TRACEBACK)
    board = Board(total=2, epochs=3, traceback_log="outputs/s/logs/ray-tune.log")
    row = Row("t1", "L2 on activity, λ=0.01", state="errored", error=error_line(str(error_file)))
    line = board.line(row)
    assert "\n" not in line
    assert line.endswith("errored, epoch 0/3, val_accuracy - (TypeError: Cannot convert a list containing a tensor "
                         "of dtype float16 to float32; traceback in outputs/s/logs/ray-tune.log)")


def test_the_error_line_is_cut_and_survives_a_missing_file(tmp_path):
    error_file = tmp_path / "error.txt"
    error_file.write_text("ValueError: " + "x" * 300 + "\n")
    assert len(error_line(str(error_file))) == 100 and error_line(str(error_file)).endswith("…")
    assert error_line(str(tmp_path / "missing.txt")) == "error"
    assert error_line(None) == "error"
