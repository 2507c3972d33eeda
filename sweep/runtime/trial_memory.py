"""``ReleaseEndedTrials``: the driver's memory per ended trial kept small over thousands of trials.

Tune keeps every trial object until the sweep ends. What an ended trial no longer needs is released
when it completes (``sweep.internals.ray_internals.release_metric_windows``). An errored trial keeps
everything, since Ray may run it again under the same id.
"""

from __future__ import annotations

from typing import Any

from ray.tune import Callback

from sweep.internals.ray_internals import release_metric_windows


class ReleaseEndedTrials(Callback):
    """Releases what Tune keeps of a completed trial beyond its results and its metric summary."""

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        release_metric_windows(trial)
