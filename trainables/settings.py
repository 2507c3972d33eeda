"""Training settings shared by every trial of a sweep (the non-searched part of a trial)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from trainables.choices import Precision


@dataclass
class TrainSettings:
    """How each trial trains; the defaults reproduce the seed article's training."""

    epochs: int = 25
    """Epochs per trial (also ASHA's max_t): the seed trains 25."""
    batch_size: int = 250
    """Mini-batch size: the seed uses 250."""
    learning_rate: float = 1e-3
    """Adam learning rate (Keras' default, as in the seed)."""
    seed: int = 0
    """Weight-init and shuffle seed of search trials: all use the same one, so they differ only by config.
    Confirmation runs use seed+1, seed+2, ..."""
    sparsity_threshold: float = 1e-3
    """A kernel weight with |w| below this counts as zero in the sparsity metrics."""
    activation_batch: int = 256
    """Validation examples used to measure ReLU activation sparsity."""
    checkpoint_every: int = 1
    """Checkpoint the model every k epochs (and always at the last one)."""
    precision: Precision = Precision.float32
    """float32 | mixed_bfloat16 | mixed_float16 (float16 overflows activity penalties)."""
    collapse_after: Optional[int] = None
    """Stop a trial whose validation accuracy is still at chance level after this many epochs (state
    collapsed); null = the scheduler's grace period, 0 = never."""
    threads: int = 0
    """TensorFlow threads per trial process; 0 = TensorFlow's default. The launcher sets it."""
    removable_tolerance: float = 0.01
    """The accuracy the ``removable`` metric may lose; the launcher sets it from search.accuracy_tolerance."""
    removable_every_epoch: bool = False
    """Measure ``removable`` every epoch (the launcher sets it when sparsity is an objective, so the
    early-stopping rungs and the searcher see it), not only at the last one."""
