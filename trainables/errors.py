"""User-facing errors: each carries the problem and its fix, so the CLI can print one line."""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix (bad config, missing data, unreachable server).

    The launcher prints ``str(error)`` as one line and exits with code 2.
    """

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem, fix)
        self.problem = problem
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.problem}. Fix: {self.fix}"


class ConfigError(UserError):
    """A config key has a wrong value or does not exist."""

    def __init__(self, key: str, problem: str, fix: str) -> None:
        super().__init__(f"{key}: {problem}", fix)
        self.key = key


class DataError(UserError):
    """A dataset is missing, cannot be downloaded, or is corrupt."""


class SummaryNotLogged(Exception):
    """Every trial finished and the summary is on disk, but writing it to MLflow failed.

    The launcher prints one line and exits with code 1; the parent run is marked FAILED.
    """
