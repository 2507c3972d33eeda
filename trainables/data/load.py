"""``load_dataset``: the one entry to the data, dispatching to the built-in or the user's loaders."""

from __future__ import annotations

from trainables.data.builtin import load_builtin
from trainables.data.types import DataSpec, Dataset
from trainables.data.user import load_user_dataset


def load_dataset(spec: DataSpec) -> Dataset:
    """Load ``spec.name`` (or the user's arrays) with its seeded validation split."""
    if spec.loader or spec.name == "npz":
        return load_user_dataset(spec)
    return load_builtin(spec)
