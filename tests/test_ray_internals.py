"""Pins each reach into Ray's private internals (``sweep/internals/ray_internals.py``): a Ray upgrade that moves
or changes one fails here, naming Ray and its version, rather than breaking cluster joins silently."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import ray

from sweep.internals import ray_internals
from tests.cli import launch_env

WHO = f"Ray {ray.__version__}"


def test_the_token_setup_function_is_where_regsweep_reaches_for_it():
    try:
        module = importlib.import_module(ray_internals.TOKEN_SETUP_MODULE)
    except ImportError as exc:
        raise AssertionError(f"{WHO} has no {ray_internals.TOKEN_SETUP_MODULE}: sweep/internals/ray_internals.py needs "
                             f"a new home for joining a token-auth cluster ({exc})") from None
    function = getattr(module, ray_internals.TOKEN_SETUP_FUNCTION, None)
    assert callable(function), f"{WHO} dropped {ray_internals.TOKEN_SETUP_MODULE}.{ray_internals.TOKEN_SETUP_FUNCTION}"
    assert "warn_if_disabled" in inspect.signature(function).parameters, \
        f"{WHO} changed {ray_internals.TOKEN_SETUP_FUNCTION}'s signature: {inspect.signature(function)}"


SNIPPET = """
import os, ray
from sweep.internals.ray_internals import enable_token_auth_if_token_available
from ray._raylet import AuthenticationMode, get_authentication_mode
on = enable_token_auth_if_token_available()
print(on, os.environ.get("RAY_AUTH_MODE"), get_authentication_mode() == AuthenticationMode.TOKEN)
"""


def _run(tmp_path, **env: str) -> str:
    base = launch_env(HOME=str(tmp_path), **env)
    for key in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        if key not in env:
            base.pop(key, None)
    proc = subprocess.run([sys.executable, "-c", SNIPPET], env=base, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip().splitlines()[-1]


def test_a_token_at_hand_turns_token_mode_on_after_ray_is_imported(tmp_path):
    """Setting RAY_AUTH_MODE after ``import ray`` is not enough: Ray's cached config must see it."""
    assert _run(tmp_path, RAY_AUTH_TOKEN="a" * 32) == "True token True", WHO


def test_no_token_leaves_auth_off_and_an_explicit_mode_is_respected(tmp_path):
    assert _run(tmp_path) == "False None False", WHO
    assert _run(tmp_path, RAY_AUTH_TOKEN="a" * 32, RAY_AUTH_MODE="disabled") == "False disabled False", WHO


def test_an_inherited_auth_mode_disabled_is_said_in_one_line():
    from sweep.runtime.cluster import local_auth_warning

    line = local_auth_warning({"RAY_AUTH_MODE": "disabled"})
    assert line is not None and "\n" not in line and "RAY_AUTH_MODE=disabled" in line and "unset" in line
    assert local_auth_warning({"RAY_AUTH_MODE": "DISABLED"}) is not None
    assert local_auth_warning({}) is None and local_auth_warning({"RAY_AUTH_MODE": "token"}) is None


def test_optuna_search_still_keeps_its_study_trials_and_told_set_where_regsweep_reads_them():
    """A stock OptunaSearch, asked and told once: the study, the live Optuna trial and the told set
    are where ``sweep/internals/ray_internals.py`` reads them."""
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    def space(trial: optuna.Trial) -> None:  # define-by-run: the suggested params are the config
        trial.suggest_float("x", 0.0, 1.0)

    searcher = OptunaSearch(space=space, metric="score", mode="max", seed=0)
    for attr in ray_internals.OPTUNA_SEARCH_ATTRS:
        assert hasattr(searcher, attr), f"{WHO}: OptunaSearch has no {attr}; update sweep/internals/ray_internals.py"
    assert isinstance(ray_internals.optuna_study(searcher), optuna.Study), WHO
    assert searcher.suggest("t0") is not None
    live = ray_internals.optuna_trials(searcher).get("t0")
    assert isinstance(live, optuna.Trial), f"{WHO}: OptunaSearch no longer maps trial ids to optuna.Trial"
    searcher.on_trial_complete("t0", {"score": 0.5})
    assert "t0" in ray_internals.told_trials(searcher), f"{WHO}: OptunaSearch no longer records told trials"
    assert ray_internals.optuna_study(searcher).trials[0].value == 0.5, WHO


def test_asha_still_counts_its_stops_where_regsweep_takes_one_back():
    from ray.tune.schedulers import ASHAScheduler

    scheduler = ASHAScheduler(time_attr="training_iteration", metric="score", mode="max", max_t=4, grace_period=1)
    counter = getattr(scheduler, ray_internals.ASHA_STOP_COUNTER, None)
    assert isinstance(counter, int), f"{WHO}: ASHA has no int {ray_internals.ASHA_STOP_COUNTER}"
    ray_internals.uncount_stop(scheduler)
    assert getattr(scheduler, ray_internals.ASHA_STOP_COUNTER) == counter - 1
    assert str(counter - 1) in scheduler.debug_string(), f"{WHO}: ASHA's status line no longer shows the count"


def test_asha_still_keeps_its_rungs_where_regsweep_reads_them():
    from ray.tune.schedulers import ASHAScheduler

    scheduler = ASHAScheduler(time_attr="training_iteration", metric="score", mode="max", max_t=25, grace_period=5,
                              reduction_factor=4)
    brackets = getattr(scheduler, ray_internals.ASHA_RUNG_ATTRS[0], None)
    assert brackets and hasattr(brackets[0], ray_internals.ASHA_RUNG_ATTRS[1]), \
        f"{WHO}: ASHA's bracket has no {ray_internals.ASHA_RUNG_ATTRS}; update sweep/internals/ray_internals.py"
    assert ray_internals.asha_rung_milestones(scheduler) == [5, 20], WHO


def test_tunes_trial_keeps_its_metric_windows_where_regsweep_releases_them():
    from ray.tune.experiment import Trial

    trial = Trial("trivial", stub=True)
    trial.update_last_result({"val_accuracy": 0.5, "training_iteration": 1})
    for attr in ray_internals.TRIAL_RUN_METADATA_ATTRS[1:]:
        assert "val_accuracy" in getattr(trial, attr), f"{WHO} moved Trial.{attr}"
    assert trial.metric_n_steps is trial.run_metadata.metric_n_steps, f"{WHO} moved Trial.run_metadata"
    ray_internals.release_metric_windows(trial)
    assert trial.metric_n_steps == {} and trial.metric_analysis["val_accuracy"]["last"] == 0.5, WHO
