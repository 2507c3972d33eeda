"""The reaches into Ray's private internals, in one place, each pinned by ``tests/test_ray_internals.py``.

**Joining a token-auth cluster.** Ray 2.60 has no public call for "join a cluster the way ``ray start`` does". Its CLI enables token
authentication when ``RAY_AUTH_MODE`` is unset and a token is at hand, and refreshes its cached
config so that the running process sees the change. Setting the variable alone after ``import ray``
is not enough. A Ray upgrade that moves or renames this function fails the pinning test, naming Ray
and its version, instead of silently breaking cluster joins.
"""

from __future__ import annotations

import logging
from typing import Any

from sweep.common.quiet import quiet_logger

#: The private module and function used below (the pinning test imports them by these names).
TOKEN_SETUP_MODULE = "ray._private.authentication.authentication_token_setup"
TOKEN_SETUP_FUNCTION = "maybe_enable_token_auth_if_token_available"


def enable_token_auth_if_token_available() -> bool:
    """Token mode for this process and its children when ``RAY_AUTH_MODE`` is unset and a token is
    at hand (what ``ray start`` does); an explicit ``RAY_AUTH_MODE`` is respected. True in token mode."""
    import importlib

    setup = getattr(importlib.import_module(TOKEN_SETUP_MODULE), TOKEN_SETUP_FUNCTION)
    # its "token authentication is enabled" line is for a cluster's owner
    with quiet_logger(TOKEN_SETUP_MODULE, logging.ERROR):
        return bool(setup(warn_if_disabled=False))


# **Ray's OptunaSearch.** It has no public handle on its Optuna study or on the Optuna trial behind a
# Tune trial, and regsweep's searcher must tell Optuna how a trial really ended (PRUNED, FAIL, or the
# worst value) rather than what OptunaSearch would tell it.
#: The private attributes of ``ray.tune.search.optuna.OptunaSearch`` read below.
OPTUNA_SEARCH_ATTRS = ("_ot_study", "_ot_trials", "_completed_trials")


def optuna_study(searcher: Any) -> Any:
    """The ``optuna.Study`` that an ``OptunaSearch`` asks and tells."""
    return searcher._ot_study


def optuna_trials(searcher: Any) -> dict[str, Any]:
    """Tune trial id -> the live ``optuna.Trial`` behind it, for the trials not yet told."""
    return searcher._ot_trials


def told_trials(searcher: Any) -> set[str]:
    """Tune trial ids whose end ``OptunaSearch`` has already handled (told, or skipped as the baseline)."""
    return searcher._completed_trials


# **ASHA's stop count.** The baseline always runs its full budget: when ASHA would stop it, regsweep
# continues it instead, and takes the stop back out of ASHA's count (its status line) so that the count
# stays true. ASHA has no public hook for a trial that must not be stopped.
#: The private counter of ``ray.tune.schedulers.AsyncHyperBandScheduler`` changed below.
ASHA_STOP_COUNTER = "_num_stopped"


def uncount_stop(scheduler: Any) -> None:
    """Take back one stop from ASHA's count: the trial it stopped was continued instead."""
    scheduler._num_stopped -= 1


# **What Tune keeps of an ended trial.** Tune holds every trial object until the sweep ends, and with
# it, per numeric metric, two deques (the last 5 and last 10 values) that only feed the running
# last-5/last-10 averages. ``metric_analysis`` keeps those averages as numbers. At about 25 metrics a
# trial that is 30 kB of the driver's memory (measured with tracemalloc on the scale benchmark), held
# for the rest of the sweep and written into every experiment snapshot. Tune has no public call to
# release it.
#: The per-trial attributes of ``ray.tune.experiment.Trial`` read or changed below.
TRIAL_RUN_METADATA_ATTRS = ("run_metadata", "metric_n_steps", "metric_analysis")


def release_metric_windows(trial: Any) -> None:
    """Drop an ended trial's last-n windows; its ``metric_analysis`` (max, min, avg, last, last-n
    averages) stays. Only for a trial that gets no more results: Tune extends the windows on each."""
    trial.run_metadata.metric_n_steps = {}  # the setter also drops Tune's cached JSON of the old value


# **ASHA's rungs.** The report draws the rungs on the learning curves where ASHA compares trials; Ray
# has no public list of them, so ``sweep.report.html_report.asha_rungs`` computes them as Ray does, and
# this reads Ray's own to pin that the two agree.
#: The private attributes of ``ray.tune.schedulers.AsyncHyperBandScheduler`` and its bracket read below.
ASHA_RUNG_ATTRS = ("_brackets", "_rungs")


def asha_rung_milestones(scheduler: Any) -> list[int]:
    """The epochs at which the first bracket of an ``ASHAScheduler`` compares trials, ascending."""
    return sorted(int(milestone) for milestone, _ in scheduler._brackets[0]._rungs)
