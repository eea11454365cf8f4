"""JSONL reading names file, line and field; writes are atomic; resume truncates torn lines."""

from __future__ import annotations

import pytest

from spin.errors import DataError
from spin.io import append_jsonl, atomic_path, count_complete_lines, read_jsonl, write_jsonl


def test_malformed_line_is_located(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"prompt": "a", "real": "b"}\n{"prompt": "a", "real": \n')
    with pytest.raises(DataError) as e:
        read_jsonl(p)
    assert f"{p}:2" in str(e.value) and "malformed JSON" in str(e.value)


def test_missing_and_empty_fields(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"prompt": "a", "real": "b"}\n{"prompt": "a"}\n')
    with pytest.raises(DataError, match=r"x.jsonl:2 field 'real': missing required field"):
        read_jsonl(p, required=["prompt", "real"])
    p.write_text('{"prompt": "a", "real": "  "}\n')
    with pytest.raises(DataError, match=r":1 field 'real': empty value"):
        read_jsonl(p, nonempty=["real"])
    with pytest.raises(DataError, match="file not found"):
        read_jsonl(tmp_path / "none.jsonl")


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.jsonl"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    assert write_jsonl(target, [{"a": 1}, {"a": 2}]) == 2
    assert read_jsonl(target) == [{"a": 1}, {"a": 2}]


def test_count_complete_lines_truncates_torn_tail(tmp_path):
    p = tmp_path / "g.jsonl"
    append_jsonl(p, [{"idx": 0}, {"idx": 1}])
    with open(p, "a") as f:
        f.write('{"idx": 2, "gen')  # a kill mid-write
    assert count_complete_lines(p) == 2
    assert read_jsonl(p) == [{"idx": 0}, {"idx": 1}]
