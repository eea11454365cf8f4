"""File I/O with two guarantees: bad lines are reported by file, line and field, and
nothing is ever half-written (writes go to a temporary file renamed into place)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from spin.errors import DataError


def read_jsonl(
    path: str | Path, *, required: Iterable[str] = (), nonempty: Iterable[str] = ()
) -> list[dict]:
    """Read a JSONL file, checking that each record has `required` fields and that the
    `nonempty` ones are non-blank strings (or non-empty chat lists).

    Raises DataError naming the file, the 1-based line and the field.
    """
    return list(iter_jsonl(path, required=required, nonempty=nonempty))


def iter_jsonl(
    path: str | Path, *, required: Iterable[str] = (), nonempty: Iterable[str] = ()
) -> Iterator[dict]:
    path = Path(path)
    if not path.exists():
        raise DataError(path, "file not found")
    required, nonempty = tuple(required), tuple(nonempty)
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(
                    path, f"malformed JSON ({e.msg} at column {e.colno})", line=lineno
                ) from None
            if not isinstance(record, dict):
                raise DataError(
                    path, f"expected a JSON object, got {type(record).__name__}", line=lineno
                )
            for field in required:
                if field not in record:
                    raise DataError(path, "missing required field", line=lineno, field=field)
            for field in nonempty:
                if _is_empty(record.get(field)):
                    raise DataError(path, "empty value", line=lineno, field=field)
            yield record


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list):  # chat format: the last message's content must be non-blank
        return not value or _is_empty(
            value[-1].get("content") if isinstance(value[-1], dict) else value[-1]
        )
    return False


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside `path`; rename it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_jsonl(path: str | Path, records: Iterable[dict]) -> int:
    """Atomically write records as JSONL; returns the count."""
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            n += 1
    return n


def write_json(path: str | Path, obj: Any) -> None:
    """Atomically write pretty JSON."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def append_jsonl(path: str | Path, records: Iterable[dict]) -> None:
    """Append records and fsync, so a killed process loses at most the record being written."""
    with open(path, "a", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def count_complete_lines(path: str | Path) -> int:
    """Count newline-terminated lines, first truncating a partial last line left by a kill."""
    path = Path(path)
    if not path.exists():
        return 0
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end != len(data):
        with open(path, "r+b") as f:
            f.truncate(end)
    return data[:end].count(b"\n")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_json(obj: Any) -> str:
    """A stable hash of a JSON-able object (sorted keys)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()
