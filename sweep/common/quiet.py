"""A library logger held at a higher level for the length of one call: the lines a library prints
for its own operators (a migration, a mode switch) stay off regsweep's console, and the logger is
left as it was found."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def quiet_logger(name: str, level: int) -> Iterator[None]:
    """Raise logger ``name`` to ``level`` inside the block; restore its own level after."""
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)
