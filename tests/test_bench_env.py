"""The benchmarks launch ``python -m sweep.launch`` from their own working folders: the checkout they
run from must come first on its import path (before, the search benchmark put ``sweep/`` itself
there, and its regsweep runs failed with "No module named 'sweep'" where regsweep is not installed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sweep.bench.search import launcher_env


def test_the_launcher_env_puts_this_checkout_first(tmp_path):
    env = launcher_env()
    first = Path(env["PYTHONPATH"].split(os.pathsep)[0])
    assert (first / "sweep" / "launch.py").is_file() and (first / "trainables" / "trainable.py").is_file(), first
    proc = subprocess.run([sys.executable, "-c", "import sweep.launch, pathlib; print(pathlib.Path(sweep.__file__))"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and Path(proc.stdout.strip()).parent.parent == first, proc.stderr[-2000:]
