"""What the converters of foreign results files share (spin.report.imports): the model block
of an imported file and the digest that names a task's documents."""

from __future__ import annotations

import hashlib
from typing import Any

IMPORTED_METHOD = "imported"
UNKNOWN_BASE = "unknown"


def content_digest(keys: list[str]) -> str:
    """sha256 over a task's sorted per-document content keys: the same documents give the same
    digest whatever order or doc_id a harness gave them."""
    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()


def imported_model(name: str, **extra: Any) -> dict:
    """The model block of an imported file: the source names the model, nothing else."""
    return {
        "name": name,
        "method": IMPORTED_METHOD,
        "iteration": None,
        "base_model": UNKNOWN_BASE,
        **extra,
    }
