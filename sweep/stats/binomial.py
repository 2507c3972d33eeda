"""The noise floor of one accuracy: an accuracy measured on ``n`` examples is a binomial proportion,
so its standard error is ``sqrt(p(1-p)/n)``. The rungs spare a trial within a few of these of the
baseline; the ranking uses it for a config measured at one seed, which has no spread of its own."""

from __future__ import annotations

import math


def binomial_se(accuracy: float, n_examples: int) -> float:
    """``sqrt(p(1-p)/n)`` at ``p`` clipped to [0, 1]: the standard error of one measured accuracy."""
    p = min(max(accuracy, 0.0), 1.0)
    return math.sqrt(p * (1.0 - p) / n_examples)


def binomial_sd(accuracy: float, n_examples: int) -> float:
    """The spread of an accuracy measured on ``n_examples`` examples: the noise floor of one seed, never
    quite 0 (an accuracy of 1.0 on a small split is still a draw)."""
    p = min(max(accuracy, 0.0), 1.0)
    return math.sqrt(max(p * (1.0 - p), 1e-6) / max(1, n_examples))
