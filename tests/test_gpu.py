"""On a CUDA GPU (``python -m pytest -m gpu`` on a GPU host; deselected by default): trials train on
the GPU, four share one card at once, and mixed bfloat16 works. They fail, not skip, without a GPU."""

from __future__ import annotations

import json

import pytest

from tests.cli import launch
from trainables import names
from trainables.settings import TrainSettings
from trainables.trainable import run_trial

pytestmark = pytest.mark.gpu


def _gpus() -> list:
    from trainables.tf_runtime import prepare_tensorflow

    return prepare_tensorflow().config.list_physical_devices("GPU")


def test_a_trial_trains_on_the_gpu_with_the_reused_model_in_both_precisions(digits):
    assert _gpus(), "no CUDA GPU visible to TensorFlow"
    for precision in ("float32", "mixed_bfloat16"):
        reports = []
        config = {names.REGULARIZER: names.L2, names.PLACEMENT: names.ACTIVITY, names.LAMBDA: 0.01}
        last = run_trial(config, digits, TrainSettings(epochs=2, precision=precision, collapse_after=0),
                         lambda m, c: reports.append(m))
        assert len(reports) == 2 and last[names.VAL_ACCURACY] > 0.5, precision


def test_four_trials_share_one_gpu_at_the_same_time(tmp_path):
    assert _gpus(), "no CUDA GPU visible to TensorFlow"
    proc = launch(tmp_path, "data=synthetic", "search=article", "search.num_samples=4", "search.confirm_seeds=0",
                  "scheduler=fifo", "train.epochs=2", "train.collapse_after=0", "cluster.gpus_per_trial=0.25",
                  "name=gpu", timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    timings = json.loads((tmp_path / "outputs" / "gpu" / "timings.json").read_text())
    spans = [(t["started"], t["ended"]) for t in timings["trials"].values()]
    assert len(spans) == 4
    latest_start, earliest_end = max(s for s, _ in spans), min(e for _, e in spans)
    assert latest_start < earliest_end, "the four trials ran at the same time on the one GPU"
