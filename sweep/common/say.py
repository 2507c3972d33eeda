"""The launcher's own output line, marked as regsweep's, so a person tells it from Ray's and
TensorFlow's."""

from __future__ import annotations


def say(text: str) -> None:
    """One line of the launcher's own output, marked as regsweep's."""
    print(f"regsweep: {text}", flush=True)
