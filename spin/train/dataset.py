"""What the trainers read, from JSONL records to padded batches, in one place so that training,
`spin inspect` and the dynamics see the same tokens.

1. `build_dataset` renders prompts and saves text columns with `save_to_disk` (multi-process
   training needs an on-disk dataset: each rank of an in-memory one has its own cache and TRL's
   precompute fails).
2. `tokenize_example` turns one rendered example into prompt and response token ids with their
   attention masks, truncated, in the chosen layout (config.LAYOUTS); `prepare_sequences` maps
   it over a dataset for a trainer.
3. `SequenceCollator` stacks the rows [prompt + y; prompt + y′; (prompt + y₀)] of a batch.

The official layout reproduces uclaml/SPIN's `DataCollatorWithPadding.tokenize_batch_element`
(spin/alignment/utils.py at a12ba80): prompt and each response tokenised separately without
special tokens, attention 0 on every EOS they contain, one EOS appended to each response, and
its truncation rule. The clean layout is TRL's DPOTrainer tokenisation (prompt and
prompt + response tokenised with the tokenizer's BOS, split where they diverge).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spin.prompts import format_prompt, format_response, truncate_prompt

log = logging.getLogger(__name__)

# Which record field feeds which trainer column.
COLUMNS = {
    "pairs": {"chosen": "real", "rejected": "generated"},
    "triplets": {"chosen": "real", "rejected": "generated", "proto": "proto"},
    "sft": {"completion": "real"},
}
# The roles of each kind, in the order of their rows in a batch (DPOTrainer's chunk(2) reads
# the first half as chosen), and the text column each is read from.
ROLES = {"pairs": ("real", "generated"), "triplets": ("real", "generated", "proto")}
ROLE_COLUMNS = {"real": "chosen", "generated": "rejected", "proto": "proto"}


def render_rows(
    records: list[dict],
    tokenizer,
    *,
    kind: str,
    prompt_format: str,
    max_prompt_length: int,
    layout: str = "clean",
) -> tuple[list[dict], int]:
    """Rows {"prompt": rendered text, column: response text}. The clean layout cuts prompts over
    max_prompt_length tokens here (keeping their end); the official one cuts them later, in
    `tokenize_example`, and only when the sequence is too long. Returns (rows, prompts cut)."""
    columns = COLUMNS[kind]
    rows, truncated = [], 0
    for r in records:
        text = format_prompt(tokenizer, r["prompt"], prompt_format, layout)
        if layout == "clean":
            text, cut = truncate_prompt(tokenizer, text, max_prompt_length)
            truncated += cut
        rows.append({"prompt": text, **{col: r[field] for col, field in columns.items()}})
    return rows, truncated


def build_dataset(
    records: list[dict],
    tokenizer,
    *,
    kind: str,
    prompt_format: str,
    max_prompt_length: int,
    out_dir: str | Path,
    layout: str = "clean",
) -> dict:
    """Render prompts (see `render_rows`) and save. Returns counts, including how many prompts
    were truncated here (the official layout's truncation is counted by `prepare_sequences`)."""
    from datasets import Dataset

    rows, truncated = render_rows(
        records,
        tokenizer,
        kind=kind,
        prompt_format=prompt_format,
        max_prompt_length=max_prompt_length,
        layout=layout,
    )
    if truncated:
        log.warning(
            "%d of %d prompts exceeded %d tokens and were truncated (kept their end)",
            truncated,
            len(rows),
            max_prompt_length,
        )
    Dataset.from_list(rows).save_to_disk(str(out_dir))
    return {"examples": len(rows), "truncated_prompts": truncated}


# ---------------------------------------------------------------- tokens


def tokenize_example(
    example: dict,
    tokenizer,
    *,
    roles: tuple[str, ...],
    layout: str,
    max_length: int | None,
    max_prompt_length: int | None,
) -> dict:
    """prompt_ids, prompt_attention_mask and, per role, {role}_ids and {role}_attention_mask of a
    rendered example {"prompt", "chosen", "rejected"[, "proto"]}, after truncation. Every response
    token is scored (the trainers' completion mask), including EOS tokens the official layout
    hides from attention."""
    texts = {
        role: format_response(tokenizer, example[ROLE_COLUMNS[role]], layout) for role in roles
    }
    if layout == "official":
        return _official(example["prompt"], texts, tokenizer, max_length, max_prompt_length)
    return _clean(example["prompt"], texts, tokenizer, max_length)


def _official(prompt: str, texts: dict, tokenizer, max_length, max_prompt_length) -> dict:
    eos = tokenizer.eos_token_id

    def encode(text: str) -> tuple[list[int], list[int]]:
        # Attention 0 on every EOS the text holds (Zephyr's `</s>` after each turn).
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids, [int(t != eos) for t in ids]

    prompt = encode(prompt)
    responses = {}
    for role, text in texts.items():
        ids, mask = encode(text)
        responses[role] = (ids + [eos], mask + [1])  # one EOS appended, attended to
    if max_length is not None:
        # The official rule; both tests use the response lengths before any cut.
        longer = max(len(ids) for ids, _ in responses.values())
        if len(prompt[0]) + longer > max_length:
            prompt = tuple(x[-max_prompt_length:] for x in prompt)
        if len(prompt[0]) + longer > max_length:
            keep = max_length - max_prompt_length
            responses = {r: tuple(x[:keep] for x in v) for r, v in responses.items()}
    out = {"prompt_ids": prompt[0], "prompt_attention_mask": prompt[1]}
    for role, (ids, mask) in responses.items():
        out[f"{role}_ids"], out[f"{role}_attention_mask"] = ids, mask
    return out


def _clean(prompt: str, texts: dict, tokenizer, max_length) -> dict:
    prompt_ids = tokenizer(prompt)["input_ids"]
    full = {role: tokenizer(prompt + text)["input_ids"] for role, text in texts.items()}
    # The response starts where the tokenised prompt and prompt + response diverge (a merge
    # across the boundary moves it), as TRL's DPOTrainer splits them.
    n = min(_common_prefix(prompt_ids, ids) for ids in full.values())
    out = {"prompt_ids": prompt_ids[:n], "prompt_attention_mask": [1] * n}
    for role, ids in full.items():
        ids = ids[n:]
        if max_length is not None:  # each sequence keeps its first max_length tokens
            ids = ids[: max(max_length - n, 0)]
        out[f"{role}_ids"], out[f"{role}_attention_mask"] = ids, [1] * len(ids)
    return out


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def prepare_sequences(
    dataset,
    tokenizer,
    args,
    *,
    roles: tuple[str, ...],
    layout: str,
    max_length: int | None,
    max_prompt_length: int | None,
):
    """Tokenise a rendered dataset (`tokenize_example`), keep only the token columns, and drop
    examples whose prompt alone fills max_length (no response token would be left)."""
    missing = {"prompt", *(ROLE_COLUMNS[r] for r in roles)} - set(dataset.column_names)
    if missing:
        raise ValueError(f"dataset lacks columns {sorted(missing)}")
    keep = {"prompt_ids", "prompt_attention_mask"}
    keep |= {f"{r}_{k}" for r in roles for k in ("ids", "attention_mask")}
    # The main process tokenises first; the others then read its cache (same fingerprint).
    with args.main_process_first(local=False, desc="tokenising"):
        dataset = dataset.map(
            tokenize_example,
            fn_kwargs=dict(
                tokenizer=tokenizer,
                roles=roles,
                layout=layout,
                max_length=max_length,
                max_prompt_length=max_prompt_length,
            ),
            remove_columns=[c for c in dataset.column_names if c not in keep],
            desc=f"Tokenising ({layout} layout)",
        )
        if max_length is not None:
            before = len(dataset)
            dataset = dataset.filter(lambda ex: len(ex["prompt_ids"]) < max_length)
            if len(dataset) < before:
                log.warning(
                    "dropped %d examples whose prompt fills max_length=%d",
                    before - len(dataset),
                    max_length,
                )
    if len(dataset) == 0:
        raise ValueError("no example left after dropping prompts that fill max_length")
    return dataset


@dataclass
class SequenceCollator:
    """Rows [prompt + y for each example; prompt + y′ ...; (prompt + y₀ ...)], right-padded;
    attention_mask from the examples' masks, completion_mask 1 on response tokens (the scored
    ones), and any precomputed ref_*_logps columns as float32 tensors."""

    pad_token_id: int
    roles: tuple[str, ...]

    def __call__(self, examples: list[dict[str, Any]]) -> dict:
        import torch

        ids, attention, completion = [], [], []
        for role in self.roles:
            for ex in examples:
                prompt, response = ex["prompt_ids"], ex[f"{role}_ids"]
                ids.append(prompt + response)
                attention.append(ex["prompt_attention_mask"] + ex[f"{role}_attention_mask"])
                completion.append([0] * len(prompt) + [1] * len(response))
        width = max(len(s) for s in ids)

        def pad(rows, value):
            return torch.tensor([r + [value] * (width - len(r)) for r in rows])

        batch = {
            "input_ids": pad(ids, self.pad_token_id),
            "attention_mask": pad(attention, 0),
            "completion_mask": pad(completion, 0),
        }
        for key in examples[0]:
            if key.startswith("ref_") and key.endswith("_logps"):
                batch[key] = torch.tensor([ex[key] for ex in examples], dtype=torch.float32)
        return batch
