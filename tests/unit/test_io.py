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


def test_atomic_writes_get_the_mode_of_plain_writes(tmp_path):
    plain = tmp_path / "plain.json"
    plain.write_text("{}")
    write_jsonl(tmp_path / "atomic.jsonl", [{"a": 1}])
    assert (tmp_path / "atomic.jsonl").stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


def test_non_utf8_folder_and_non_text_fields_are_named(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_bytes(b'{"prompt": "a"}\n{"prompt": "caf\xe9"}\n')
    with pytest.raises(DataError, match=r"x.jsonl:2: not UTF-8"):
        read_jsonl(p)
    with pytest.raises(DataError, match="is a folder"):
        read_jsonl(tmp_path)
    p.write_text('{"prompt": ["a"]}\n{"prompt": 3}\n')
    with pytest.raises(DataError, match=r"x.jsonl:2 field 'prompt': expected text, got int"):
        read_jsonl(p, nonempty=["prompt"])


def test_index_field_is_distinct_integers_or_absent(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"idx": 2}\n\n{"idx": 2}\n')
    with pytest.raises(
        DataError, match=r"x.jsonl:3 field 'idx': duplicate value 2 \(also line 1\)"
    ):
        read_jsonl(p, index="idx")
    p.write_text('{"idx": true}\n')
    with pytest.raises(DataError, match="expected an integer, got True"):
        read_jsonl(p, index="idx")
    p.write_text('{"a": 1}\n{"a": 2}\n')
    assert len(read_jsonl(p, index="idx")) == 2
