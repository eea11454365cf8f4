"""The project's shared folder: real files for checking parsers, kept beside the repository
as ../shared (never committed, never at an absolute path). A test without it skips on a
developer's machine; under CI=true, where the folder is laid out, missing data is a failure."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def shared_path(*parts: str, marker: str | None = None) -> Path | None:
    """../shared/PARTS if it exists (and holds `marker`, when given), else None; under CI=true
    a missing folder fails instead, at collection, naming what is missing."""
    path = SHARED.joinpath(*parts)
    if (path / marker).exists() if marker else path.exists():
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {path / (marker or '')} is missing (../shared beside the repo)")
    return None
