"""Render JSONL records into the text datasets the trainers read, saved with
`save_to_disk` (multi-process training needs an on-disk dataset: each rank of an
in-memory one has its own cache and TRL's precompute fails)."""

from __future__ import annotations

import logging
from pathlib import Path

from spin.prompts import format_prompt, truncate_prompt

log = logging.getLogger(__name__)

# Which record field feeds which trainer column.
COLUMNS = {
    "pairs": {"chosen": "real", "rejected": "generated"},
    "triplets": {"chosen": "real", "rejected": "generated", "proto": "proto"},
    "sft": {"completion": "real"},
}


def build_dataset(
    records: list[dict],
    tokenizer,
    *,
    kind: str,
    prompt_format: str,
    max_prompt_length: int,
    out_dir: str | Path,
) -> dict:
    """Render prompts, truncate over-long ones (keeping their end, as the official trainer),
    and save. Returns counts, including how many prompts were truncated."""
    from datasets import Dataset

    columns = COLUMNS[kind]
    rows, truncated = [], 0
    for r in records:
        text = format_prompt(tokenizer, r["prompt"], prompt_format)
        text, cut = truncate_prompt(tokenizer, text, max_prompt_length)
        truncated += cut
        rows.append({"prompt": text, **{col: r[field] for col, field in columns.items()}})
    if truncated:
        log.warning(
            "%d of %d prompts exceeded %d tokens and were truncated (kept their end)",
            truncated,
            len(rows),
            max_prompt_length,
        )
    Dataset.from_list(rows).save_to_disk(str(out_dir))
    return {"examples": len(rows), "truncated_prompts": truncated}
