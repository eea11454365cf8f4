"""File I/O with two guarantees: bad lines are reported by file, line and field, and
nothing is ever half-written (writes go to a temporary file renamed into place)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from spin.errors import DataError


def read_jsonl(
    path: str | Path,
    *,
    required: Iterable[str] = (),
    nonempty: Iterable[str] = (),
    index: str | None = None,
) -> list[dict]:
    """Read a JSONL file, checking that each record has `required` fields and that the
    `nonempty` ones are non-blank strings (or non-empty chat lists). With `index`, that
    field, when any record has it, must be a distinct integer in every record.

    Raises DataError naming the file, the 1-based line and the field.
    """
    return list(iter_jsonl(path, required=required, nonempty=nonempty, index=index))


def iter_jsonl(
    path: str | Path,
    *,
    required: Iterable[str] = (),
    nonempty: Iterable[str] = (),
    index: str | None = None,
) -> Iterator[dict]:
    path = Path(path)
    if not path.exists():
        raise DataError(path, "file not found")
    if path.is_dir():
        raise DataError(path, "is a folder, expected a JSONL file")
    required, nonempty = tuple(required), tuple(nonempty)
    seen: dict[int, int] = {}  # index value -> line
    without: int | None = None  # first line without the index field
    with path.open("rb") as f:  # decoded line by line, so a bad byte is located exactly
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(
                    path, f"not UTF-8 (byte {e.start + 1}: {e.reason})", line=lineno
                ) from None
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
                value = record.get(field)
                if value is not None and not isinstance(value, (str, list)):
                    raise DataError(
                        path, f"expected text, got {type(value).__name__}", line=lineno, field=field
                    )
                if _is_empty(value):
                    raise DataError(path, "empty value", line=lineno, field=field)
            if index is not None:
                without = _check_index(path, lineno, record, index, seen, without)
            yield record


def _check_index(path, lineno: int, record: dict, field: str, seen: dict, without):
    """One record's share of read_jsonl's `index` check; returns the first line without it."""
    if field not in record:
        if seen:
            first = next(iter(seen.values()))
            raise DataError(
                path, f"missing (line {first} has one: all or none)", line=lineno, field=field
            )
        return without or lineno
    value = record[field]
    if without is not None:
        raise DataError(path, f"line {without} has none (all or none)", line=lineno, field=field)
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataError(path, f"expected an integer, got {value!r}", line=lineno, field=field)
    if value in seen:
        raise DataError(
            path, f"duplicate value {value} (also line {seen[value]})", line=lineno, field=field
        )
    seen[value] = lineno
    return without


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


TEMP_SUFFIX = ".tmp"
"""Ends the name of every file or folder being written (atomic_path, the stages' dataset
builds): one left in a finished stage can only be a killed write's, and is removed."""


def remove_leftovers(folder: str | Path) -> list[Path]:
    """Delete the `*.tmp` files and folders below `folder` (left by killed writes)."""
    found = sorted(Path(folder).rglob(f"*{TEMP_SUFFIX}"), key=lambda p: -len(p.parts))
    for p in found:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()
    return found


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside `path`; rename it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the mode open() would
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


@contextlib.contextmanager
def atomic_dir(target: Path):
    """Build a folder in a sibling temporary folder, renamed into place when complete (a
    concurrent builder that loses the race discards its copy)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        yield tmp
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def built_once(folder: Path, build: Callable[[Path], dict | None]) -> dict:
    """Build `folder` unless it exists, atomically: `build` writes `<folder>.tmp/`, renamed
    into place when complete. A kill during save_to_disk used to leave a half-written
    dataset/ that the resumed stage reused forever. Returns build's stats ({} if reused)."""
    if folder.exists():
        return {}
    tmp = folder.with_name(folder.name + TEMP_SUFFIX)
    if tmp.exists():  # left by a kill
        shutil.rmtree(tmp)
    stats = build(tmp) or {}
    os.replace(tmp, folder)
    return stats


def replace_dir_contents(staged: Path, target: Path, names: list[str]) -> None:
    """Move each staged name into `target`, replacing what was there, so stale outputs vanish.

    Directories are swapped whole: a figure that is no longer produced does not linger.
    """
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        src, dst = staged / name, target / name
        if src.is_dir():
            trash = Path(tempfile.mkdtemp(prefix=f".{name}.old.", dir=target))
            if dst.exists():
                os.replace(dst, trash / name)
            os.replace(src, dst)
            shutil.rmtree(trash)
        elif src.exists():
            os.replace(src, dst)
        elif dst.exists() and dst.is_file():
            dst.unlink()  # e.g. comparison.csv from an earlier build with results
