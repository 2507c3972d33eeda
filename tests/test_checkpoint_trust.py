"""A checkpoint on shared storage is written by a worker: the driver logs its model with the sweep's
own model function, and never imports a function that the checkpoint names instead."""

from __future__ import annotations

import json
import sys

import pytest

from trainables import names
from trainables.model.source import ModelSource
from trainables.trainable import PROGRESS_FILE, PROGRESS_METRICS, PROGRESS_MODEL, PROGRESS_SOURCE, \
    ForeignCheckpoint, checkpoint_model

PLANTED = "planted_model_module"


@pytest.fixture
def planted(tmp_path, monkeypatch):
    """A checkpoint whose progress.json names ``planted_model_module:build``; importing that module
    leaves a marker file."""
    marker = tmp_path / "imported"
    (tmp_path / f"{PLANTED}.py").write_text(f"open({str(marker)!r}, 'w').close()\ndef build():\n    return None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, PLANTED, raising=False)
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    foreign = ModelSource(target=f"{PLANTED}:build", n_classes=10, input_shape=(28, 28, 1))
    (ckpt / PROGRESS_FILE).write_text(json.dumps({
        names.EPOCH: 1, PROGRESS_METRICS: {names.VAL_ACCURACY: 0.5},
        PROGRESS_MODEL: {PROGRESS_SOURCE: foreign.as_dict(), "config": {names.REGULARIZER: names.NONE}}}))
    return ckpt, marker


def test_a_checkpoint_naming_another_model_is_refused_without_importing_it(planted):
    ckpt, marker = planted
    ours = ModelSource(n_classes=10, input_shape=(28, 28, 1))  # the seed CNN, from the launcher's config
    with pytest.raises(ForeignCheckpoint, match=f"names model '{PLANTED}:build', but this sweep runs 'seed_cnn'"):
        checkpoint_model(str(ckpt), ours)
    assert not marker.exists(), "the planted module was imported"


def test_without_the_sweeps_own_model_the_checkpoint_would_run_its_module(planted):
    """The control: what the driver did before it passed its own model (the planted code ran)."""
    ckpt, marker = planted
    with pytest.raises(Exception):
        checkpoint_model(str(ckpt))
    assert marker.exists()
