"""How every benchmark starts ``python -m sweep.launch``: this checkout first on the import path."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def launcher_env() -> dict[str, str]:
    """The environment of ``python -m sweep.launch``: this checkout first on the import path."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
