"""Every command the README and the ``conf/`` comments show runs as written.

Two of them used to fail: the ``Used by`` line of ``conf/data/synthetic.yaml`` (random labels put
every trial at chance, collapse detection stopped them all, exit 1), and the README's
``search.points_to_evaluate`` example (its placement was not in the default placements, exit 2).

The default suite composes and validates every command and every override the README's option
table shows. The ``slow`` suite runs the commands through ``python -m sweep.launch`` with a tiny
budget appended (Hydra's last value wins), once per distinct composed config: many lines differ only
in the budget the tiny one replaces (the README's digits line is ``conf/data/digits.yaml``'s), and
running the same config twice proves nothing more. The default data (EMNIST) runs on a small file in
EMNIST's own format, a server command against a real ``mlflow server``, ``cluster=remote`` on a real
``ray start`` cluster. ``cluster=gpu`` needs a GPU: on a CPU machine it must refuse in one line.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys

import pytest

from sweep.config.compose import load_config
from trainables.errors import ConfigError
from tests.cli import launch, launch_env
from tests.conftest import REPO
from tests.documented import launch_commands, substitute, table_snippets, write_npz
from tests.emnist_fixture import write_emnist_zip
from tests.ray_cluster import env_with_home, token_cluster
from tests.servers import mlflow_server

COMMANDS = launch_commands()
SNIPPETS = table_snippets()
STAND_INS = {"mlflow": "http://127.0.0.1:5000", "tmp": "/tmp/regsweep-documented"}
TINY = ["search.num_samples=2", "train.epochs=1", "search.confirm_seeds=0", "train.batch_size=64"]


def test_the_extraction_finds_the_commands_users_copy():
    assert "README.md:53" in COMMANDS or any(c == ["data=digits", "search.num_samples=8", "train.epochs=4"]
                                             for c in COMMANDS.values())
    assert "conf/data/synthetic.yaml" in COMMANDS and "conf/tracking/server.yaml" in COMMANDS
    assert len(COMMANDS) >= 18, COMMANDS
    assert any(s.startswith("search.points_to_evaluate=") for s in SNIPPETS)
    assert len(SNIPPETS) >= 30, SNIPPETS


@pytest.mark.parametrize("where", sorted(COMMANDS))
def test_every_documented_command_composes(where):
    load_config(substitute(COMMANDS[where], STAND_INS))


#: Overrides that need an optional extra (pyproject.toml), and the module it installs.
OPTIONAL_EXTRAS = {"search.sampler=gp": "torch"}


@pytest.mark.parametrize("snippet", sorted(SNIPPETS))
def test_every_override_in_the_option_table_composes(snippet):
    overrides = re.split(r"\s+(?=[a-z_0-9.]+=)", snippet)
    if overrides == ["resume=true"]:  # its row: "name / resume"
        overrides = ["name=my-sweep", "resume=true"]
    extra = next((module for override, module in OPTIONAL_EXTRAS.items() if override in overrides), None)
    if extra is not None and importlib.util.find_spec(extra) is None:  # without it: the one line naming the extra
        with pytest.raises(ConfigError, match=re.escape("pip install 'regsweep[")):
            load_config(substitute(overrides, STAND_INS))
        return
    load_config(substitute(overrides, STAND_INS))


def test_synthetic_data_turns_collapse_detection_off():
    from sweep.search.tuner import collapse_off_for_data, trial_settings

    cfg = load_config(["data=synthetic", "train.epochs=2"])
    assert collapse_off_for_data(cfg) and trial_settings(cfg).collapse_after == 0
    kept = load_config(["data=synthetic", "train.collapse_after=3", "train.epochs=4"])
    assert not collapse_off_for_data(kept) and trial_settings(kept).collapse_after == 3, "the user's value stays"
    assert trial_settings(load_config(["data=digits"])).collapse_after > 0


def _composed_key(overrides: list[str]) -> str:
    """What a documented command runs with the tiny budget, as text: two commands with the same key run
    the same sweep (the name aside)."""
    import json
    from dataclasses import asdict

    cfg = asdict(load_config([*substitute(overrides, STAND_INS), *TINY]))
    cfg.pop("name")
    return json.dumps(cfg, sort_keys=True, default=str)


def distinct_commands() -> dict[str, list[str]]:
    """The first place (in sorted order) each distinct composed config is written -> its overrides."""
    first: dict[str, str] = {}
    for where in sorted(COMMANDS):
        first.setdefault(_composed_key(COMMANDS[where]), where)
    return {where: COMMANDS[where] for where in first.values()}


DISTINCT = distinct_commands()


def test_the_commands_run_once_per_distinct_config_and_every_one_is_covered():
    keys = {_composed_key(overrides) for overrides in COMMANDS.values()}
    assert {_composed_key(overrides) for overrides in DISTINCT.values()} == keys
    assert len(DISTINCT) == len(keys) < len(COMMANDS), "the README's digits line composes as conf/data/digits.yaml"


def _needs(overrides: list[str]) -> set[str]:
    text = " ".join(overrides)
    needs = set()
    if "data=digits" not in text and "data=npz" not in text and "data=synthetic" not in text \
            and "preset=article" not in text and "preset=smoke" not in text and "model=mlp" not in text:
        needs.add("emnist")
    if "{mlflow}" in " ".join(substitute(overrides, {"mlflow": "{mlflow}", "tmp": "{tmp}"})):
        needs.add("mlflow")
    if "cluster=remote" in text:
        needs.add("cluster")
    if "mlp:build" in " ".join(substitute(overrides, {"mlflow": "", "tmp": ""})):
        needs.add("own_model")
    return needs


@pytest.mark.slow
@pytest.mark.parametrize("where", sorted(DISTINCT))
def test_every_documented_command_runs_as_written(where, tmp_path):
    overrides = DISTINCT[where]
    needs = _needs(overrides)
    values = {"mlflow": "", "tmp": str(tmp_path)}
    extra = list(TINY) + [f"name=doc-{re.sub(r'[^a-z0-9]+', '-', where.lower()).strip('-')}"]
    env = launch_env()
    if "emnist" in needs:  # the download is covered by the EMNIST tests; its random labels sit at chance
        write_emnist_zip(tmp_path / "matlab.zip", 200, 60)
        extra += [f"data.matlab_zip={tmp_path / 'matlab.zip'}", "train.collapse_after=0"]
    if "own_model" in needs:
        for f in (REPO / "examples" / "own_model").glob("*.py"):
            shutil.copy(f, tmp_path / f.name)
        subprocess.run([sys.executable, "make_npz.py"], cwd=tmp_path, check=True, timeout=120)  # the README's step
        write_npz(tmp_path / "arrays.npz")  # conf/data/npz.yaml's /path/to/arrays.npz
    if "cluster=gpu" in overrides:
        proc = launch(tmp_path, *substitute(overrides, values), *extra, "data=digits", timeout=300)
        assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
        (line,) = [l for l in proc.stderr.splitlines() if l.strip()]
        assert "cluster.gpus_per_trial" in line and "Fix:" in line, line
        return
    with _servers(needs, tmp_path) as (uri, home):
        values["mlflow"] = uri
        if home is not None:
            env = env_with_home(home)
        proc = launch(tmp_path, *substitute(overrides, values), *extra, env=env, timeout=900)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{where}: {' '.join(overrides)}\n{output[-5000:]}"
    assert "Traceback" not in output, output[-5000:]


class _servers:
    """The MLflow server and the Ray cluster a command names, for the length of its run."""

    def __init__(self, needs: set[str], root) -> None:
        self.needs, self.root, self.stack = needs, root, None

    def __enter__(self):
        from contextlib import ExitStack

        self.stack = ExitStack()
        uri = self.stack.enter_context(mlflow_server(self.root / "server")) if "mlflow" in self.needs else ""
        home = None
        if "cluster" in self.needs:
            home = self.root / "home"
            self.stack.enter_context(token_cluster(home))
        return uri, home

    def __exit__(self, *exc):
        self.stack.close()
        return False
