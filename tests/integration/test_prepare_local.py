"""The data stage on a local UltraChat copy: one file is split (held-out prompts are never
training prompts); an empty or malformed file is a one-line error naming file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spin.cli import main as spin
from spin.io import read_jsonl

RECIPE = Path(__file__).resolve().parents[2] / "replication" / "spin-zephyr-7b.yaml"


def _row(i: int) -> dict:
    return {
        "prompt_id": f"p{i}",
        "messages": [
            {"role": "user", "content": f"Question {i}?"},
            {"role": "assistant", "content": f"Answer {i}."},
        ],
    }


def _prepare(tmp_path, path, *sets):
    out = tmp_path / "run"
    argv = [
        "run",
        str(RECIPE),
        "--stop-after",
        "prepare",
        "--output-dir",
        str(out),
        "-q",
        "--set",
        f"data.path={path}",
        *(a for s in sets for a in ("--set", s)),
    ]
    return spin(argv), out


def test_one_local_file_is_split_not_reused(tmp_path):
    data = tmp_path / "uc.jsonl"
    data.write_text("".join(json.dumps(_row(i)) + "\n" for i in range(12)))
    code, out = _prepare(tmp_path, data, "data.num_prompts=0", "data.num_eval=4")
    assert code == 0
    [prepared] = [p.parent for p in out.rglob("prompts.jsonl")]
    train = {r["prompt"] for r in read_jsonl(prepared / "prompts.jsonl")}
    held = {r["prompt"] for r in read_jsonl(prepared / "heldout.jsonl")}
    assert len(held) == 4 and len(train) == 8 and not train & held


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"", "has no conversations"),
        (b'{"messages": []}\n{"messages": [1, 2]}\n', "uc.jsonl:1 field 'messages'"),
        (
            b'{"messages": [{"role": "user", "content": 5}, '
            b'{"role": "assistant", "content": "a"}]}\n',
            "uc.jsonl:1 field 'messages[0].content': expected text, got int",
        ),
        (json.dumps(_row(0)).encode() + b"\n{oops\n", "uc.jsonl:2: malformed JSON"),
        (json.dumps(_row(0)).encode() + b"\n", "has 1 conversations: one file cannot give"),
    ],
)
def test_bad_local_file_is_one_line(tmp_path, capsys, content, error):
    data = tmp_path / "uc.jsonl"
    data.write_bytes(content)
    code, _ = _prepare(tmp_path, data, "data.num_eval=4")
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]  # (tqdm draws on stderr)
    assert code == 2 and len(errors) == 1 and error in errors[0] and "Traceback" not in err, err
