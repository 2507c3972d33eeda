"""Tuner wiring: searcher, ASHA, resources, storage, failure retries, and restore."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from sweep.config import SweepConfig
from sweep.searcher import PruneAwareOptunaSearch
from sweep.space import RegularizationSpace, make_sampler
from trainables import names
from trainables.data import Dataset
from trainables.settings import TrainSettings
from trainables.tracking import TrackingInfo
from trainables.trainable import tune_trainable

#: GPU share per trial when the config leaves it to us and the cluster has GPUs.
AUTO_GPU_SHARE = 0.25


def resolve_storage_path(cfg: SweepConfig) -> str:
    """Absolute local path or a URI (s3://, gs://, ...) for Ray's experiment state."""
    path = cfg.cluster.storage_path or "ray_results"
    if "://" in path:
        return path
    return str(Path(path).expanduser().resolve())


def resolve_gpus_per_trial(cfg: SweepConfig, cluster_gpus: float) -> float:
    """The configured share, or AUTO_GPU_SHARE when GPUs exist and the config says null."""
    if cfg.cluster.gpus_per_trial is not None:
        return float(cfg.cluster.gpus_per_trial)
    return AUTO_GPU_SHARE if cluster_gpus > 0 else 0.0


def trial_settings(cfg: SweepConfig) -> TrainSettings:
    """Training settings with TensorFlow's threads sized to the CPUs each trial gets."""
    threads = cfg.train.threads or max(1, int(cfg.cluster.cpus_per_trial))
    return replace(cfg.train, threads=threads)


def make_trainable(cfg: SweepConfig, data: Dataset, gpus_per_trial: float,
                   tracking: TrackingInfo | None = None) -> Any:
    """The trainable with its arrays in Ray's object store and its per-trial resources."""
    from ray import tune

    with_data = tune.with_parameters(tune_trainable, data=data, settings=trial_settings(cfg), tracking=tracking)
    return tune.with_resources(with_data, {"cpu": float(cfg.cluster.cpus_per_trial), "gpu": gpus_per_trial})


def build_tuner(cfg: SweepConfig, name: str, trainable: Any) -> Any:
    """A fresh Tuner for sweep ``name``."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    searcher = PruneAwareOptunaSearch(
        space=RegularizationSpace(cfg.search),
        metric=names.OBJECTIVE,
        mode=names.OBJECTIVE_MODE,
        sampler=make_sampler(cfg.search.seed),
        points_to_evaluate=[dict(p) for p in cfg.search.points_to_evaluate] or None,
        study_name=name,
    )
    if cfg.scheduler.name == "asha":
        scheduler: Any = ASHAScheduler(
            time_attr="training_iteration",
            max_t=cfg.train.epochs,
            grace_period=min(cfg.scheduler.grace_period, cfg.train.epochs),
            reduction_factor=cfg.scheduler.reduction_factor,
        )
    else:
        scheduler = FIFOScheduler()
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            metric=names.OBJECTIVE,
            mode=names.OBJECTIVE_MODE,
            search_alg=searcher,
            scheduler=scheduler,
            num_samples=cfg.search.num_samples,
            max_concurrent_trials=cfg.search.max_concurrent_trials or None,
            reuse_actors=True,  # one TensorFlow import per worker process, not per trial
        ),
        run_config=_run_config(cfg, name),
    )


def restore_tuner(cfg: SweepConfig, name: str, trainable: Any) -> Any:
    """The Tuner of an interrupted sweep, continuing its searcher state and unfinished trials."""
    from ray import tune

    return tune.Tuner.restore(
        experiment_path(cfg, name),
        trainable=trainable,
        resume_unfinished=True,
        resume_errored=True,
        restart_errored=False,
    )


def experiment_path(cfg: SweepConfig, name: str) -> str:
    """Where Ray keeps sweep ``name``'s state."""
    return os.path.join(resolve_storage_path(cfg), name)


def _run_config(cfg: SweepConfig, name: str) -> Any:
    from ray import tune

    return tune.RunConfig(
        name=name,
        storage_path=resolve_storage_path(cfg),
        failure_config=tune.FailureConfig(max_failures=cfg.cluster.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        verbose=1,  # Ray's periodic status table; our own summary follows at the end
    )
