"""Pins the reach into Optuna's private internals (``sweep/internals/optuna_internals.py``) and shows
that the windowed TPE really models the window: an Optuna upgrade that reads trials another way fails
here, naming Optuna and its version, instead of silently turning the window off."""

from __future__ import annotations

import heapq
import inspect
import random
import warnings

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from sweep.internals.optuna_internals import TRIALS_READER, WindowedStudy
from sweep.search.windowed_tpe import WindowedTPESampler

WHO = f"Optuna {optuna.__version__}"
RECENT = 30


def test_the_study_still_has_the_trial_reader_tpe_uses():
    reader = getattr(optuna.study.Study, TRIALS_READER, None)
    assert callable(reader), f"{WHO} has no Study.{TRIALS_READER}: the windowed TPE needs a new way in"
    params = set(inspect.signature(reader).parameters)
    assert {"deepcopy", "states", "use_cache"} <= params, f"{WHO} changed Study.{TRIALS_READER}: {params}"


def _suggestions(sampler: optuna.samplers.BaseSampler, asks: int = 12) -> list[float]:
    """60 old trials good at x in [0.8, 1], then RECENT poor ones at x in [0, 0.2]: TPE that models
    every trial proposes near 0.8-1; TPE that models only the recent ones proposes near them."""
    rng = random.Random(0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    space = {"x": FloatDistribution(0.0, 1.0)}
    for _ in range(60):
        study.add_trial(create_trial(params={"x": rng.uniform(0.8, 1.0)}, distributions=space,
                                     value=rng.uniform(0.5, 0.6)))
    for _ in range(RECENT):
        study.add_trial(create_trial(params={"x": rng.uniform(0.0, 0.2)}, distributions=space,
                                     value=rng.uniform(0.1, 0.2)))
    proposals = []
    for _ in range(asks):
        trial = study.ask()
        proposals.append(trial.suggest_float("x", 0.0, 1.0))
        study.tell(trial, state=TrialState.FAIL)  # not modelled: every ask sees the same trials
    return proposals


@pytest.mark.parametrize("joint", [True, False], ids=["sample_relative", "sample_independent"])
def test_the_window_changes_what_tpe_proposes(joint: bool):
    options = {"multivariate": True, "group": True} if joint else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        plain = _suggestions(optuna.samplers.TPESampler(seed=0, n_startup_trials=5, **options))
        windowed = _suggestions(WindowedTPESampler(seed=0, n_startup_trials=5, recent=RECENT, best=0, **options))
    assert min(plain) > 0.6, "the control: TPE over every trial proposes near the old good region"
    assert max(windowed) < 0.5, f"{WHO}: the window no longer reaches TPE's model ({sorted(windowed)})"


def test_the_view_holds_the_recent_trials_and_the_best_of_the_others():
    study = optuna.create_study(direction="maximize")
    study.optimize(lambda t: -(t.suggest_float("x", -3, 3) - 1) ** 2, n_trials=40)
    seen = WindowedStudy(study, 8, 3, {})._get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    assert [t.number for t in seen[-8:]] == list(range(32, 40)), "the most recent trials"
    best_older = sorted(study.trials[:32], key=lambda t: -t.value)[:3]
    assert [t.number for t in seen[:-8]] == sorted(t.number for t in best_older), "and the best of the others"


def _rescanned(study, recent: int, best: int, states) -> list[int]:
    """The window as a full rescan gives it: the recent trials plus the best completed of the others."""
    trials = study._get_trials(deepcopy=False, states=states)
    if len(trials) <= recent + best:
        return [t.number for t in trials]
    older = [t for t in trials[:-recent] if t.state == TrialState.COMPLETE]
    top = heapq.nlargest(best, older, key=lambda t: t.value)
    return sorted(t.number for t in top) + [t.number for t in trials[-recent:]]


def test_the_view_kept_up_to_date_as_trials_finish_equals_a_full_rescan():
    """The view takes each finished trial once (a rescan per call made each suggestion cost the study's
    size). As the study grows, with trials that finish late, pruned ones and tied values, it must
    still hold what a full rescan holds, for every set of states TPE asks about."""
    rng = random.Random(0)
    study = optuna.create_study(direction="maximize")
    cache: dict = {}
    running: list = []
    for step in range(300):
        running.append(study.ask())
        if len(running) > 6 or rng.random() < 0.5:  # end a random running trial: some end late
            trial = running.pop(rng.randrange(len(running)))
            if rng.random() < 0.4:
                study.tell(trial, state=TrialState.PRUNED)
            else:
                study.tell(trial, round(rng.random(), 1))  # one decimal: many ties
        for states in ((TrialState.COMPLETE,), (TrialState.COMPLETE, TrialState.PRUNED), None):
            view = WindowedStudy(study, 20, 5, cache)._get_trials(deepcopy=False, states=states)
            assert [t.number for t in view] == _rescanned(study, 20, 5, states), (step, states)
