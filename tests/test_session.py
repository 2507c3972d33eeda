"""The session's guards: the one-sweep lock is keyed on the sweep's Ray state (storage path and
name), not only on its output folder; a resume refuses Ray state that another user may have written."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from sweep.config.schema import SweepConfig
from sweep.session import sweep_lock
from tests.cli import launch_env
from trainables.errors import ConfigError

HOLDER = """
import sys, time
from dataclasses import replace
from pathlib import Path
from sweep.config.schema import SweepConfig
from sweep.session import sweep_lock
cfg = SweepConfig()
cfg = replace(cfg, output_dir=sys.argv[1], cluster=replace(cfg.cluster, storage_path=sys.argv[2]))
with sweep_lock(cfg, "twin", Path(sys.argv[1]) / "twin"):
    print("held", flush=True)
    time.sleep(60)
"""


def _cfg(output_dir: Path, storage: Path) -> SweepConfig:
    cfg = SweepConfig()
    return replace(cfg, output_dir=str(output_dir), cluster=replace(cfg.cluster, storage_path=str(storage)))


@pytest.fixture
def held(tmp_path):
    """Another process holds sweep 'twin' with output_dir a/ and storage shared/."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "a"), str(tmp_path / "shared")],
                            env=launch_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        yield tmp_path
    finally:
        proc.kill()
        proc.wait()


def test_the_same_sweep_with_another_output_dir_is_refused(held):
    cfg = _cfg(held / "b", held / "shared")
    with pytest.raises(ConfigError, match=r"sweep 'twin' is running in another process right now \(lock .*shared"):
        with sweep_lock(cfg, "twin", held / "b" / "twin"):
            pass


def test_another_name_on_the_same_storage_and_the_same_name_on_other_storage_run(held):
    with sweep_lock(_cfg(held / "a", held / "shared"), "other", held / "a" / "other"):
        pass
    with sweep_lock(_cfg(held / "c", held / "elsewhere"), "twin", held / "c" / "twin"):
        pass


def test_the_lock_is_released_when_the_sweep_ends(tmp_path):
    cfg = _cfg(tmp_path / "a", tmp_path / "shared")
    with sweep_lock(cfg, "twin", tmp_path / "a" / "twin"):
        pass
    started = time.monotonic()
    with sweep_lock(cfg, "twin", tmp_path / "a" / "twin"):
        assert time.monotonic() - started < 5


def test_resume_refuses_a_state_folder_anyone_may_write(tmp_path):
    """Ray unpickles the saved state on resume: a folder or file every user may write is refused."""
    from sweep.session import check_state_is_private

    experiment = tmp_path / "ray_results" / "sweep"
    experiment.mkdir(parents=True)
    (experiment / "tuner.pkl").write_bytes(b"state")
    check_state_is_private(str(experiment))  # the launcher's own, not world-writable
    (experiment / "tuner.pkl").chmod(0o666)
    with pytest.raises(ConfigError, match=r"cluster.storage_path: .*tuner.pkl is writable by every user \(mode "
                                          r"-rw-rw-rw-\).*unpickles"):
        check_state_is_private(str(experiment))
    (experiment / "tuner.pkl").chmod(0o644)
    experiment.chmod(0o777)
    with pytest.raises(ConfigError, match="sweep is writable by every user"):
        check_state_is_private(str(experiment))
