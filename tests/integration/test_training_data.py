"""Rendering records for the trainers: prompt formats, SPIN's prompt truncation, counts."""

from __future__ import annotations

from datasets import load_from_disk
from transformers import AutoTokenizer

from spin.prompts import ALPACA, format_prompt, truncate_prompt
from spin.train.dataset import build_dataset


def test_over_long_prompts_keep_their_end_and_are_counted(tiny_model_dir, tmp_path, caplog):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    long_prompt = " ".join(["What is 12 + 34?"] * 40) + " Reverse the word: apple"
    records = [
        {"prompt": long_prompt, "real": "elppa", "generated": "apple"},
        {"prompt": "What is 1 + 2?", "real": "3", "generated": "4"},
    ]
    stats = build_dataset(
        records,
        tok,
        kind="pairs",
        prompt_format="chat",
        max_prompt_length=32,
        out_dir=tmp_path / "ds",
    )
    assert stats == {"examples": 2, "truncated_prompts": 1}
    assert "1 of 2 prompts exceeded 32 tokens" in caplog.text
    rows = load_from_disk(str(tmp_path / "ds"))
    assert len(tok(rows[0]["prompt"], add_special_tokens=False)["input_ids"]) <= 33
    assert rows[0]["prompt"].endswith(
        "apple</s><|assistant|>\n"
    )  # the end (and the question) survive
    assert rows[1]["prompt"] == format_prompt(tok, "What is 1 + 2?", "chat")
    assert (rows[0]["chosen"], rows[0]["rejected"]) == ("elppa", "apple")


def test_prompt_formats(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert (
        format_prompt(tok, "hi", "alpaca")
        == ALPACA.format(prompt="hi")
        == "### Instruction: hi\n\n### Response: "
    )
    assert format_prompt(tok, "hi", "chat") == "<|user|>\nhi</s><|assistant|>\n"
    text, cut = truncate_prompt(tok, "short", 100)
    assert (text, cut) == ("short", False)


def test_triplets_and_sft_columns(tiny_model_dir, tmp_path):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    rec = [{"prompt": "q", "real": "a", "generated": "b", "proto": "c"}]
    build_dataset(
        rec,
        tok,
        kind="triplets",
        prompt_format="alpaca",
        max_prompt_length=32,
        out_dir=tmp_path / "t",
    )
    assert load_from_disk(str(tmp_path / "t"))[0] == {
        "prompt": ALPACA.format(prompt="q"),
        "chosen": "a",
        "rejected": "b",
        "proto": "c",
    }
    build_dataset(
        rec, tok, kind="sft", prompt_format="chat", max_prompt_length=32, out_dir=tmp_path / "s"
    )
    assert load_from_disk(str(tmp_path / "s")).column_names == ["prompt", "completion"]
