"""Reading one spin-results/1 file (DESIGN.md) and checking it against the schema.

Kept apart from spin.report.results (which scans folders and aggregates) so the importers of
foreign formats (spin.report.imports) can validate what they convert without importing the
scanner that calls them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from spin.errors import DataError
from spin.eval.results import validate_provenance

RESULTS_SCHEMA = "spin-results/1"


def read_json(path: str | Path) -> Any:
    """Parse a JSON file; a syntax error names the file and line."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, "file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(
            path, f"malformed JSON ({e.msg} at column {e.colno})", line=e.lineno
        ) from None
    except UnicodeDecodeError:
        raise DataError(path, "not UTF-8 text") from None


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def validate_results(obj: Any, path: str | Path) -> dict:
    """Check one results object against spin-results/1; returns it with `_path` added."""
    if not isinstance(obj, dict):
        raise DataError(path, f"expected a JSON object, got {type(obj).__name__}")
    if obj.get("schema") != RESULTS_SCHEMA:
        raise DataError(
            path, f"expected '{RESULTS_SCHEMA}', got {obj.get('schema')!r}", field="schema"
        )
    model = obj.get("model")
    if not isinstance(model, dict):
        raise DataError(path, "missing or not an object", field="model")
    for key in ("name", "method", "base_model"):
        if not isinstance(model.get(key), str) or not model[key].strip():
            raise DataError(path, "missing or not a non-empty string", field=f"model.{key}")
    it = model.get("iteration")
    if it is not None and (not isinstance(it, int) or isinstance(it, bool) or it < 0):
        raise DataError(
            path, f"must be a non-negative integer or null, got {it!r}", field="model.iteration"
        )
    te = model.get("train_examples")
    if te is not None and (not isinstance(te, int) or isinstance(te, bool) or te <= 0):
        raise DataError(
            path, f"must be a positive integer, got {te!r}", field="model.train_examples"
        )
    if not isinstance(obj.get("suite"), str) or not obj["suite"]:
        raise DataError(path, "missing or not a string", field="suite")
    tasks = obj.get("tasks")
    if not isinstance(tasks, dict) or not tasks:
        raise DataError(path, "missing or empty", field="tasks")
    for name, task in tasks.items():
        where = f"tasks.{name}"
        if not isinstance(task, dict):
            raise DataError(path, "not an object", field=where)
        if not _number(task.get("value")):
            raise DataError(
                path, f"not a finite number: {task.get('value')!r}", field=f"{where}.value"
            )
        se = task.get("stderr")
        if se is not None and (not _number(se) or se < 0):
            raise DataError(path, f"not a non-negative number: {se!r}", field=f"{where}.stderr")
    avg = obj.get("average")
    if avg is not None and not _number(avg):
        raise DataError(path, f"not a number: {avg!r}", field="average")
    prov = obj.get("provenance", {})
    if not isinstance(prov, dict):
        raise DataError(path, "not an object", field="provenance")
    validate_provenance(prov, path)
    return {**obj, "_path": str(path)}


def load_results(path: str | Path) -> dict:
    """Read and validate one results file."""
    return validate_results(read_json(path), path)
