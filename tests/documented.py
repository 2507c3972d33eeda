"""The commands the README and the ``conf/`` comments show, extracted as a user would copy them.

Placeholders a user replaces (``/path/to/arrays.npz``, ``my_pkg.models:build``, a server's host)
are mapped to working stand-ins by ``PLACEHOLDERS`` so that the rest of each command runs as written.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from tests.conftest import REPO

LAUNCH = "python -m sweep.launch"
#: README fragments that are a user's own value, and what a test puts there.
PLACEHOLDERS = {
    "/path/to/arrays.npz": "arrays.npz",
    "my_pkg.models:build": "mlp:build",
    "model=mlp:build": "model=mlp:build",
    "my_pkg.data:load": "tests.documented:load_arrays",
    "http://host:5000": "{mlflow}",
    "http://127.0.0.1:5000": "{mlflow}",
    "/shared/ray_results": "{tmp}/shared_ray_results",
    "head:6379": "auto",
}


def launch_commands() -> dict[str, list[str]]:
    """Where each command is written (file:line) -> its overrides, from the README's code blocks and
    the ``Used by:`` lines of ``conf/``. A bare ``python -m sweep.launch`` (the default EMNIST sweep)
    is kept: it runs on the EMNIST fixture file."""
    found: dict[str, list[str]] = {}
    in_code = False
    for i, line in enumerate((REPO / "README.md").read_text().splitlines(), 1):
        if line.startswith("```"):
            in_code = not in_code
            continue
        if in_code and line.strip().startswith(LAUNCH):
            found[f"README.md:{i}"] = _overrides(line.strip())
    for path in sorted((REPO / "conf").rglob("*.yaml")):
        first = path.read_text().splitlines()[:2]
        for line in first:
            match = re.match(r"#\s*Used by:\s*(python -m sweep\.launch.*)$", line)
            if match:
                found[str(path.relative_to(REPO))] = _overrides(match.group(1))
    return found


def _overrides(command: str) -> list[str]:
    """The overrides of one command line, without comments and ``[group=option ...]`` synopses."""
    command = re.sub(r"\s+(#|\().*$", "", command[len(LAUNCH):])
    command = re.sub(r"\[[^\]]*\.\.\.\]", "", command)
    return shlex.split(command)


def table_snippets() -> dict[str, str]:
    """Each backticked override in the README's "Choosing what to sweep" table -> the row it is in."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Choosing what to sweep", 1)[1].split("\n## ", 1)[0]
    snippets: dict[str, str] = {}
    for row in section.splitlines():
        if not row.startswith("| ") or row.startswith("| ---") or row.startswith("| what"):
            continue
        for snippet in re.findall(r"`([^`]+)`", row):
            if re.match(r"^[a-z_0-9]+(\.[a-z_0-9]+)*=\S", snippet) and "..." not in snippet:
                snippets[snippet] = row.split("|")[1].strip()
    return snippets


def substitute(overrides: list[str], values: dict[str, str]) -> list[str]:
    out = []
    for item in overrides:
        for placeholder, stand_in in PLACEHOLDERS.items():
            item = item.replace(placeholder, stand_in)
        out.append(item.format(**values) if "{" in item and "}" in item and "[{" not in item else item)
    return out


def load_arrays() -> dict:
    """The stand-in for ``data.loader=my_pkg.data:load``: digits as feature vectors."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return {"x_train": (digits.data / 16.0).astype("float32"), "y_train": digits.target}


def write_npz(path: Path) -> Path:
    import numpy as np

    arrays = load_arrays()
    np.savez(path, **arrays)
    return path
