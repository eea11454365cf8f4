"""User-facing errors: each names what was wrong and where, so the CLI can print it plainly."""

from __future__ import annotations

import difflib
from pathlib import Path


class SpinError(Exception):
    """An error caused by the user's input; the CLI prints it without a traceback."""


class DataError(SpinError):
    """Bad data in a file, located by file, line and field."""

    def __init__(
        self, path: str | Path, message: str, *, line: int | None = None, field: str | None = None
    ):
        where = str(path)
        if line is not None:
            where += f":{line}"
        if field is not None:
            where += f" field '{field}'"
        super().__init__(f"{where}: {message}")
        self.path, self.line, self.field = str(path), line, field


class ConfigError(SpinError):
    """A bad experiment configuration (unknown key, wrong type, invalid value)."""


def nearest(name: str, candidates) -> str:
    """A ' (did you mean X?)' hint for a misspelt name, or '' if nothing is close."""
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return f" (did you mean '{match[0]}'?)" if match else ""
