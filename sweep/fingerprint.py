"""What shapes a sweep's results, written when it starts and compared when it resumes.

A resumed sweep must train and judge its remaining trials exactly as the first ones were: a changed
``train.epochs`` would reach the trainable while ASHA's restored ``max_t`` kept the old value, a
changed ``data.*`` would compare trials on different splits. Settings that only decide where and how
fast trials run (``cluster.*``, ``tracking.*``, ``train.threads``, ``train.checkpoint_every``) may
change. ``search.num_samples`` and ``search.max_concurrent_trials`` do not change results, but Ray's
restored Tuner keeps the values it started with, so a resume that changes them is refused too.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict
from typing import Any, Mapping, Optional

from sweep.config.schema import SweepConfig
from sweep.search.space import L1_RATIO_MEANING, RegularizationSpace

#: Keys that may change on resume (they do not change results).
MAY_CHANGE = {"train.threads", "train.checkpoint_every", "data.matlab_zip", "data.url", "data.download"}
#: Keys that Ray's restored Tuner keeps from the start (its saved TuneConfig): a resume cannot change them.
KEPT_BY_RAY = {"search.num_samples", "search.max_concurrent_trials"}


def results_fingerprint(cfg: SweepConfig) -> dict[str, Any]:
    """Every setting that changes results, flattened to dotted keys."""
    flat: dict[str, Any] = {"search.space": RegularizationSpace(cfg.search).fingerprint(), "model": cfg.model}
    for group, values in (("search", asdict(cfg.search)), ("train", asdict(cfg.train)), ("data", asdict(cfg.data)),
                          ("scheduler", asdict(cfg.scheduler)), ("regularize", asdict(cfg.regularize))):
        for key, value in values.items():
            dotted = f"{group}.{key}"
            if dotted not in MAY_CHANGE:
                flat[dotted] = value
    return flat


#: Keys added after sweeps were already saved. Each came in with its present default as the behaviour
#: those sweeps had, so a saved sweep that lacks one counts with the schema's default (``added_later``):
#: the YAML and the schema agree on every default (tests/test_configs.py), so there is one source. A new
#: default for one of these keys is also how such an old sweep resumes.
ADDED_LATER_KEYS: tuple[str, ...] = (
    "model", "regularize.include", "regularize.exclude", "data.path", "data.loader",
    # sequential confirmation: a sweep saved before it resumes under its defaults
    "search.confirm_max_seeds", "search.budget_epochs",
    # multi-objective early stopping and the removable fraction: they change nothing in a
    # single-objective sweep, and a restored Tuner keeps its scheduler
    "scheduler.multi_objective", "search.collapse_descent", "train.removable_tolerance",
    "train.removable_every_epoch", "search.sampler",
    # sparing late bloomers: a restored Tuner keeps the scheduler it was saved with
    "scheduler.spare_within_se",
    # once allowed to change on resume, though it sets the level of every look of confirmation
    "search.confidence",
    # the search's stop once settled: a restored searcher saved before it never stops early
    "search.patience",
    # a split per confirmation seed: the rounds still to run of a sweep saved before it get their own splits
    "search.confirm_splits", "search.futility",
)


@functools.cache
def added_later() -> dict[str, Any]:
    """Each of ``ADDED_LATER_KEYS`` with the value a sweep saved before it had: the schema's default,
    as the fingerprint file holds it (JSON)."""
    defaults = json.loads(json.dumps(results_fingerprint(SweepConfig())))
    return {key: defaults[key] for key in ADDED_LATER_KEYS}


def first_difference(saved: Mapping[str, Any], current: Mapping[str, Any]) -> Optional[str]:
    """The first dotted key whose value differs (or that only one side has), else None. A key the
    saved sweep predates counts with the value it had then (``added_later``)."""
    for key in sorted(set(saved) | set(current)):
        if key in KEPT_BY_RAY and key not in saved:  # a sweep saved before they were recorded
            continue
        if saved.get(key, added_later().get(key)) != current.get(key):
            return key
    return None


def started_with_old_l1_ratio(saved: Mapping[str, Any]) -> bool:
    """True for a sweep started when l1_ratio meant the L2 share (its fingerprint predates the meaning)."""
    space = saved.get("search.space", saved)
    return not isinstance(space, Mapping) or space.get("l1_ratio_meaning") != L1_RATIO_MEANING
