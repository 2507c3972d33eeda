"""Finished sweeps that many tests read, each run once per test session (pytest plugin, see conftest).

A real sweep through ``python -m sweep.launch`` costs a minute or more on 2 cores, and most end-to-end
tests only read what one left behind (its console, results.csv, the MLflow store) or are refused against
it (a resume with a changed setting, a resume while another launcher holds the lease). So they share:

- ``local_sweep``: the local default (no ``tracking.uri``): digits, 4 search trials × 2 epochs at once
  (half a CPU each), FIFO, both objectives (accuracy and sparsity), then one confirmation round of the
  best penalized config and the baseline at 3 fresh paired seeds, its outputs in an ``output_dir`` outside
  the working directory. Read by ``test_launch_e2e``, ``test_console``, ``test_local_store``, and in the
  slow suite by the refusal tests (``test_lease``, ``test_stranded_parent``, the old l1_ratio meaning).

A test that changes the shared sweep puts it back as it was (a planted lease tag, a rewritten
fingerprint file); the one test that resumes it carries the ``resumes_shared_sweep`` marker, which
conftest moves to the end of the session.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli import launch

#: The local sweep: what each override is there for is in the module docstring.
LOCAL_NAME = "shared"
LOCAL_SEARCH_TRIALS = 4
LOCAL_EPOCHS = 2
LOCAL_ARGS = ("data=digits", f"search.num_samples={LOCAL_SEARCH_TRIALS}", f"train.epochs={LOCAL_EPOCHS}",
              "train.batch_size=64", "scheduler=fifo", "cluster.cpus_per_trial=0.5",
              f"search.max_concurrent_trials={LOCAL_SEARCH_TRIALS}", "search.confirm_seeds=2",
              "search.confirm_max_seeds=2", "search.objectives=[val_accuracy,sparsity]", "train.collapse_after=0",
              f"name={LOCAL_NAME}")
#: The confirmation round: the baseline and the best penalized config at 3 fresh seeds (no look comes
#: before 3 paired seeds, so search.confirm_seeds=2 trains 3), each seed on its own split.
LOCAL_CONFIRM_RUNS = 6


@dataclass(frozen=True)
class FinishedSweep:
    """A sweep run to its end: where it ran, the command's overrides, and what it printed."""

    root: Path
    """The working directory (the local MLflow store, ./mlflow.db, is here)."""
    out_dir: Path
    """``<output_dir>/<name>``: results.csv, verdict.md, the plots."""
    args: tuple[str, ...]
    """Every override it ran with (a resume repeats them)."""
    proc: subprocess.CompletedProcess

    @property
    def output(self) -> str:
        return self.proc.stdout + self.proc.stderr

    @property
    def store_uri(self) -> str:
        return f"sqlite:///{self.root / 'mlflow.db'}"


@pytest.fixture(scope="session")
def local_sweep(tmp_path_factory) -> FinishedSweep:
    root = tmp_path_factory.mktemp("local-sweep")
    args = (*LOCAL_ARGS, f"output_dir={root / 'elsewhere'}")
    proc = launch(root, *args)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return FinishedSweep(root, root / "elsewhere" / LOCAL_NAME, args, proc)
