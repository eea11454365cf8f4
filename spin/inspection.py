"""`spin inspect`: the exact tokens the generator and the trainer see for given records.

It calls the functions the pipeline calls (spin.prompts for generation prompts,
spin.train.dataset for training rows, tokens and batches), with the experiment's settings of
one arm's iteration, so "what is my model actually trained on?" has a checkable answer.
"""

from __future__ import annotations

import json
import sys

HELP = "Show the token ids, labels and attention masks the generator and trainer see for records."
EXAMPLE = (
    "spin inspect replication/spin-zephyr-7b.yaml --records r.jsonl --tokenizer DIR "
    '--arm spin --iteration 1   # r.jsonl: {"prompt", "real", "generated"[, "proto"]} per line'
)


def add_arguments(p) -> None:
    from spin.pipeline.command import add_experiment_file_arguments

    add_experiment_file_arguments(p)
    p.add_argument(
        "--records",
        required=True,
        help='JSONL, one {"prompt", "real", "generated"[, "proto"]} per line (raw text)',
    )
    p.add_argument(
        "--tokenizer",
        help="tokenizer folder replacing the recipe model's (its tokenizer_config.json gives "
        "the chat template); needed offline",
    )
    p.add_argument("--arm", help="arm whose training settings apply (default: the first)")
    p.add_argument("--iteration", type=int, default=0, help="iteration of the arm (default 0)")


def inspect_records(exp, records: list[dict], tokenizer, *, arm: str, iteration: int) -> list[dict]:
    """One dict per record: generation_input_ids, and per role {input_ids, labels,
    attention_mask} unpadded and truncated as the model's forward pass gets them; labels are
    aligned with input_ids (before the shift), -100 where a position is not scored. A record
    whose prompt alone fills max_length (the trainer drops it) gets "dropped" instead."""
    from spin.method import get
    from spin.prompts import format_prompt, generation_input_ids
    from spin.train.dataset import ROLES, SequenceCollator, render_rows, tokenize_example

    cfg = exp.iteration_training(arm, iteration)
    kind = get(exp.arms[arm].method).data  # pairs | triplets: the rows its trainer builds
    roles = ROLES[kind]
    gen = exp.generation
    rows, _ = render_rows(
        records,
        tokenizer,
        kind=kind,
        prompt_format=cfg.prompt_format,
        max_prompt_length=cfg.max_prompt_length,
        layout=cfg.layout,
    )
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    # One collator per role: a batch of one row is unpadded.
    collators = {role: SequenceCollator(pad, (role,)) for role in roles}
    out = []
    for record, row in zip(records, rows, strict=True):
        text = format_prompt(tokenizer, record["prompt"], gen.prompt_format, gen.layout)
        gen_ids = generation_input_ids(tokenizer, [text], gen.layout)["input_ids"][0]
        result = {"generation_input_ids": gen_ids}
        tokens = tokenize_example(
            row,
            tokenizer,
            roles=roles,
            layout=cfg.layout,
            max_length=cfg.max_length,
            max_prompt_length=cfg.max_prompt_length,
        )
        if len(tokens["prompt_ids"]) >= cfg.max_length:  # prepare_sequences' filter
            result["dropped"] = f"the prompt fills max_length={cfg.max_length}"
            out.append(result)
            continue
        for role in roles:
            batch = collators[role]([tokens])
            # As the trainers build labels from the batch (the model shifts them itself).
            labels = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100)
            result[role] = {
                "input_ids": batch["input_ids"][0].tolist(),
                "labels": labels[0].tolist(),
                "attention_mask": batch["attention_mask"][0].tolist(),
            }
        out.append(result)
    return out


def main(args) -> int:
    from spin.config import load_experiment
    from spin.errors import SpinError
    from spin.io import read_jsonl
    from spin.method import get

    exp = load_experiment(args.experiment, args.set)
    arm = args.arm or next(iter(exp.arms), None)
    if arm not in exp.arms:
        raise SpinError(f"--arm '{arm}' is not an arm of {args.experiment} ({', '.join(exp.arms)})")
    method = get(exp.arms[arm].method)
    if not method.self_play:  # continued_sft trains on SFT text
        raise SpinError(f"arm '{arm}' is {method.name}: inspect shows self-play training only")
    n = len(exp.arms[arm].iterations)
    if not 0 <= args.iteration < n:
        raise SpinError(f"--iteration {args.iteration}: arm '{arm}' has iterations 0..{n - 1}")
    required = ["prompt", "real", "generated"] + (["proto"] if method.data == "triplets" else [])
    records = read_jsonl(args.records, required=required, nonempty=["prompt"])
    tokenizer = _tokenizer(exp, args.tokenizer)
    try:
        results = inspect_records(exp, records, tokenizer, arm=arm, iteration=args.iteration)
    except ValueError as e:  # e.g. a chat format with a tokenizer that has no template
        raise SpinError(str(e)) from None
    for r in results:
        sys.stdout.write(json.dumps(r) + "\n")
    return 0


def _tokenizer(exp, folder: str | None):
    from transformers import AutoTokenizer

    from spin.errors import SpinError

    name = folder or exp.model.name_or_path
    if name == "tiny":
        raise SpinError("model 'tiny' is built by the pipeline: pass --tokenizer (its θ0 folder)")
    try:
        return AutoTokenizer.from_pretrained(name, revision=None if folder else exp.model.revision)
    except (OSError, ValueError) as e:
        raise SpinError(
            f"cannot load the tokenizer of {name} ({e}); pass --tokenizer DIR"
        ) from None
