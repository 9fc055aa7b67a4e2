"""Errors that reach the user as one clear line."""

from __future__ import annotations

from pathlib import Path


class EarnetError(Exception):
    """Base class for every error earnet reports to the user (exit code 2)."""


class InputError(EarnetError):
    """A file or folder the user gave is missing, unreadable or inconsistent.

    The message always names the file: ``"<path>: <problem>"``.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")
