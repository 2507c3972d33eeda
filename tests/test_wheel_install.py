"""The built wheel works outside the checkout: it ships conf/ (as sweep/conf), so the CLI installed in
a fresh venv, run from another directory, finds its config and runs a 1-trial digits sweep.

The venv sees this interpreter's packages (``--system-site-packages``), so the wheel's own requirements
are resolved by pip against what ``make setup`` installed, and ``pip check`` confirms that every pinned
range holds, without downloading TensorFlow, Ray and MLflow a second time. What the venv imports as
``sweep`` is the wheel's copy, never the checkout's."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def run(cmd: list[str], cwd: Path, timeout: int = 1800, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_runs_help_and_a_one_trial_sweep_from_another_directory(tmp_path):
    dist, venv, elsewhere, src = tmp_path / "dist", tmp_path / "venv", tmp_path / "elsewhere", tmp_path / "src"
    elsewhere.mkdir()
    src.mkdir()
    # build from a clean copy of the sources: setuptools leaves build/ in the tree it builds
    for part in ("pyproject.toml", "README.md", "sweep", "trainables", "conf"):
        copy = shutil.copytree if (REPO / part).is_dir() else shutil.copy2
        copy(REPO / part, src / part, **({"ignore": shutil.ignore_patterns("__pycache__")} if copy is shutil.copytree else {}))
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(dist), str(src)], cwd=tmp_path)
    wheel = next(dist.glob("regsweep-*.whl"))
    run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], cwd=tmp_path)
    python = str(venv / "bin" / "python")
    installed = run([python, "-m", "pip", "install", "--disable-pip-version-check", str(wheel)], cwd=tmp_path)
    (line,) = re.findall(r"^Successfully installed (.+)$", installed.stdout, re.M) or [""]
    assert [d.rsplit("-", 1)[0] for d in line.split()] == ["regsweep"], \
        f"pip resolved the wheel's requirements to the installed packages and installed only the wheel: {line!r}"
    checked = run([python, "-m", "pip", "check", "--disable-pip-version-check"], cwd=tmp_path)
    assert "No broken requirements found" in checked.stdout

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONUNBUFFERED"] = "1"
    where = run([python, "-c", "import sweep, pathlib; print(pathlib.Path(sweep.__file__).parent)"], elsewhere, env=env)
    assert Path(where.stdout.strip()).is_relative_to(venv), "the wheel's package, not the checkout, is imported"
    assert (Path(where.stdout.strip()) / "conf" / "config.yaml").exists()

    helped = run([python, "-m", "sweep.launch", "--help"], elsewhere, env=env)
    assert "data=" in helped.stdout and "search" in helped.stdout
    swept = run([python, "-m", "sweep.launch", "data=digits", "search.num_samples=1", "search.baseline=false",
                 "search.confirm_seeds=0", "train.epochs=1", "train.batch_size=64", "name=from-wheel"],
                elsewhere, env=env)
    assert "=== sweep from-wheel: 1 trials" in swept.stdout
    assert (elsewhere / "outputs" / "from-wheel" / "results.csv").exists() and (elsewhere / "mlflow.db").exists()
