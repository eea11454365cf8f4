"""The 7B recipes' data stage on Hub-shaped data: UltraChat200k first turns and the released
SPIN_iter pairs, with each pinned revision reaching the loader.

The Hub is unreachable here, so `datasets.load_dataset` is replaced by a stand-in that serves
in-memory datasets in the Hub rows' format and records what it was asked for; everything
above it (config, pins, the prepare stage, the row parsers) is the real code path.
"""

from __future__ import annotations

from pathlib import Path

from spin.cli import main as spin
from spin.config import load_experiment
from spin.io import read_jsonl

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "replication" / "spin-zephyr-7b.yaml"


def _conversation(i: int) -> list[dict]:
    return [
        {"role": "user", "content": f"Question {i}?"},
        {"role": "assistant", "content": f"Answer {i}."},
        {"role": "user", "content": "And then?"},
        {"role": "assistant", "content": "Then more."},
    ]


def _hub(monkeypatch, tables: dict[tuple[str, str], list[dict]]) -> list[tuple]:
    import datasets

    asked: list[tuple] = []

    def load_dataset(path, *args, split=None, revision=None, **kwargs):
        asked.append((path, split, revision))
        return datasets.Dataset.from_list(tables[(path, split)])

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return asked


def _prepared(out: Path) -> Path:
    [prompts] = list(out.rglob("prompts.jsonl"))
    return prompts.parent


def test_ultrachat_first_turns_at_the_pinned_revision(tmp_path, monkeypatch):
    uc = "HuggingFaceH4/ultrachat_200k"
    rows = [
        {"prompt": f"Question {i}?", "prompt_id": f"p{i}", "messages": _conversation(i)}
        for i in range(40)
    ]
    asked = _hub(monkeypatch, {(uc, "train_sft"): rows[:30], (uc, "test_sft"): rows[30:]})
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
        "data.num_prompts=20",
        "--set",
        "data.num_eval=5",
    ]
    assert spin(argv) == 0
    pin = load_experiment(RECIPE, []).data.revision
    assert len(pin) == 40 and asked == [(uc, "train_sft", pin), (uc, "test_sft", pin)]
    prompts = read_jsonl(_prepared(out) / "prompts.jsonl")
    assert len(prompts) == 20
    # First turns only: the prompt is the first user message, y its first answer.
    for p in prompts:
        i = int(p["prompt"].removeprefix("Question ").rstrip("?"))
        assert p["real"] == f"Answer {i}." and i < 30
    assert len(read_jsonl(_prepared(out) / "heldout.jsonl")) == 5


def test_released_spin_iter_pairs_use_their_own_pins(tmp_path, monkeypatch):
    def pairs(t: int, n: int) -> list[dict]:
        return [
            {
                "real": _conversation(i)[:2],
                "generated": [
                    _conversation(i)[0],
                    {"role": "assistant", "content": f"Mine {t}.{i}"},
                ],
            }
            for i in range(n)
        ]

    tables = {}
    for t in range(4):
        tables[(f"UCLA-AGI/SPIN_iter{t}", "train")] = pairs(t, 6)
        tables[(f"UCLA-AGI/SPIN_iter{t}", "test")] = pairs(t, 3)
    asked = _hub(monkeypatch, tables)
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
        "data.source=spin_iter",
        "--set",
        "data.spin_iter_revisions=[aaaaaaa, bbbbbbb]",
    ]
    assert spin(argv) == 0
    # Pinned iterations load at their pins, the rest at main; UltraChat's pin is not applied.
    assert {(p, r) for p, _, r in asked} == {
        ("UCLA-AGI/SPIN_iter0", "aaaaaaa"),
        ("UCLA-AGI/SPIN_iter1", "bbbbbbb"),
        ("UCLA-AGI/SPIN_iter2", None),
        ("UCLA-AGI/SPIN_iter3", None),
    }
    done = _prepared(out)
    for t in range(4):
        rows = read_jsonl(done / f"pairs_iter{t}.jsonl")
        assert [r["generated"] for r in rows] == [f"Mine {t}.{i}" for i in range(6)]
        assert rows[0]["prompt"] == "Question 0?" and rows[0]["real"] == "Answer 0."
