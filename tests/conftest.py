"""Shared fixtures. The Keras cache is redirected to a private temp dir before Keras is imported,
so tests never touch ~/.keras and EMNIST tests start from an empty cache."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Must happen before any test imports keras (keras reads KERAS_HOME once, at import).
os.environ["KERAS_HOME"] = tempfile.mkdtemp(prefix="regsweep-test-keras-")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def digits():
    """The digits dataset, loaded once per test session."""
    from trainables.data.load import load_dataset
    from trainables.data.types import DataSpec

    return load_dataset(DataSpec(name="digits"))


@pytest.fixture
def keras_cache() -> Path:
    """An empty ``$KERAS_HOME/datasets`` for this test, cleaned afterwards."""
    root = Path(os.environ["KERAS_HOME"]) / "datasets"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def ray_local():
    """A real local Ray runtime for the test, shut down afterwards."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "2"}})
    yield ray
    ray.shutdown()


pytest_plugins = ["tests.shared_sweeps"]


def pytest_collection_modifyitems(items: list) -> None:
    """A test that resumes a shared sweep (``tests/shared_sweeps.py``) runs after every test that reads it."""
    items.sort(key=lambda item: item.get_closest_marker("resumes_shared_sweep") is not None)
