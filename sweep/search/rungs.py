"""ASHA for one objective, with two exceptions: the baseline is never stopped, and a late bloomer is spared.

**Why the baseline runs to the end.** It is the control every gain is stated against, so it must be
measured at the full budget, and its value at each rung is the bar the penalties have to clear.

**Why late bloomers are spared.** A penalty slows early learning: on digits, regularized configs trail
no regularization for their first 3-6 epochs and lead from about epoch 15. ASHA keeps the top
1/reduction_factor at a rung, and on a small validation split the gaps there are a few examples wide.
The fidelity benchmark (``python -m sweep.bench fidelity``) found the rung at epoch 5 stopping a
config that tied first at the full budget, 2 validation examples behind the baseline at that rung.

So a trial that ASHA would stop at a rung goes on when it keeps pace with no regularization: its
validation accuracy at that epoch is at least the baseline's, less ``spare_within_se`` binomial
standard errors of the validation split (``sqrt(p(1-p)/n)`` at the baseline's accuracy ``p``, the noise
of one accuracy measured on ``n`` examples). A trial clearly behind the baseline still stops, and a
collapsed one always does. While the baseline lags behind the trial, its latest accuracy (at an earlier
epoch, a lower bar) is the one compared; before its first epoch, ASHA's rule alone decides.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from sweep.common import spares
from sweep.common.labels import config_label
from sweep.common.say import say
from sweep.internals.ray_internals import uncount_stop
from sweep.stats.binomial import binomial_se

#: The time axis of the rungs: one Tune result per epoch.
TIME_ATTR = "training_iteration"


def keeps_pace(value: float, baseline: Optional[float], val_examples: int, spare_within_se: float) -> bool:
    """True when ``value`` is within ``spare_within_se`` standard errors of the baseline's accuracy at
    the same epoch, or above it. False without a baseline value, a validation size or a margin."""
    if baseline is None or val_examples <= 0 or spare_within_se <= 0 or not math.isfinite(value):
        return False
    return value >= baseline - spare_within_se * binomial_se(baseline, val_examples)


class BaselineAwareASHA(ASHAScheduler):
    """Ray's ASHA (``ASHAScheduler``, its public subclassing API), deciding every rung as ASHA does, then
    continuing the baseline and any trial that keeps pace with it (``keeps_pace``)."""

    def __init__(self, *, metric_name: str, max_t: int, is_baseline: Callable[[Any], bool],
                 val_examples: int = 0, spare_within_se: float = 0.0, **asha: Any) -> None:
        super().__init__(time_attr=TIME_ATTR, max_t=max_t, **asha)
        self._metric_name, self._last_rung_step = metric_name, max_t
        self._is_baseline = is_baseline
        self._val_examples = int(val_examples)
        self._spare_within_se = float(spare_within_se)
        self._baseline_curve: dict[int, float] = {}
        #: Trial id -> the rungs (epochs) at which it was spared (read by the tests; not logged).
        self.spared: dict[str, list[int]] = {}

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        action = super().on_trial_result(tune_controller, trial, result)
        step, value = result.get(TIME_ATTR), result.get(self._metric_name)
        if step is None or value is None:
            return action
        if self._is_baseline(trial.config):
            self._baseline_curve[int(step)] = float(value)
            if action == TrialScheduler.STOP:
                uncount_stop(self)
                return TrialScheduler.CONTINUE
            return action
        bar = self._baseline_at(int(step))
        if (action == TrialScheduler.STOP and step < self._last_rung_step
                and keeps_pace(float(value), bar, self._val_examples, self._spare_within_se)):
            uncount_stop(self)
            self.spared.setdefault(trial.trial_id, []).append(int(step))
            spares.record(trial.trial_id, int(step))
            say(f"trial {trial.trial_id} {config_label(trial.config)}: spared at the rung at epoch {int(step)} "
                f"(val_accuracy {float(value):.4f}, no regularization {bar:.4f}: within "
                f"{self._spare_within_se:g} standard error); ASHA alone would have stopped it")
            return TrialScheduler.CONTINUE
        return action

    def __setstate__(self, state: dict) -> None:
        """A restored scheduler (resume) tells the driver again which trials it spared."""
        self.__dict__.update(state)
        for trial_id, rungs in state.get("spared", {}).items():
            for epoch in rungs:
                spares.record(trial_id, epoch)

    def _baseline_at(self, step: int) -> Optional[float]:
        """The baseline's accuracy at ``step``, or at the latest epoch before it while the baseline lags
        (a lower bar, since accuracy rises with epochs: a trial that keeps pace with it is spared rather
        than judged by ASHA alone); None before the baseline's first epoch."""
        reached = [epoch for epoch in self._baseline_curve if epoch <= step]
        return self._baseline_curve[max(reached)] if reached else None
