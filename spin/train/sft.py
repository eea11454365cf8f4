"""Supervised fine-tuning on (prompt, completion) pairs with TRL's SFTTrainer: builds θ0
in the tiny preset, rebuilds zephyr-7b-sft-full at scale, and runs the continued-SFT
baseline (the SPIN paper's Table 3)."""

from __future__ import annotations

from pathlib import Path

import torch

from spin.config import SFTConfig
from spin.prompts import chat_template_of, resolve_chat_template
from spin.train.arguments import (
    common_args,
    finish,
    fp32_outputs,
    last_checkpoint,
    load_for_training,
)
from spin.train.invariants import invariant_callback


def conversation_texts(records: list[dict], tokenizer, cfg: SFTConfig):
    """Full conversations rendered as the Alignment Handbook did: its chat template over the
    messages (an empty system turn first with cfg.empty_system_turn), one `text` column.
    TRL then tokenises each text with the tokenizer's special tokens (Mistral: BOS) and
    appends EOS, as TRL 0.7 did."""
    from datasets import Dataset

    template = resolve_chat_template(cfg.chat_template) or chat_template_of(tokenizer)
    texts = []
    for r in records:
        messages = list(r["messages"])
        if cfg.empty_system_turn and messages[0]["role"] != "system":
            messages.insert(0, {"role": "system", "content": ""})
        texts.append(
            tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False)
        )
    return Dataset.from_dict({"text": texts})


def train_sft(
    model_path: str,
    dataset_dir: str | Path,
    output_dir: str | Path,
    cfg: SFTConfig,
    *,
    seed: int,
    dtype: str = "float32",
) -> dict:
    """Fine-tune model_path on dataset_dir: columns prompt, completion (rendered prompt and
    response; loss on the completion only) or text (conversation_texts; every token scored,
    packed with cfg.packing). EOS appended by TRL."""
    from datasets import load_from_disk
    from trl import SFTConfig as TRLSFTConfig
    from trl import SFTTrainer

    output_dir = Path(output_dir)
    ckpt_dir = output_dir / "checkpoints"
    dataset = load_from_disk(str(dataset_dir))
    conversations = "text" in dataset.column_names  # see conversation_texts
    args = TRLSFTConfig(
        **common_args(cfg, ckpt_dir, seed, dtype),
        max_length=cfg.max_length,
        completion_only_loss=True,  # prompt-completion data; conversation texts score every token
        packing=cfg.packing and conversations,
        packing_strategy="wrapped",
        tf32=True if cfg.tf32 and torch.cuda.is_available() else None,
    )
    model, tokenizer = load_for_training(model_path, dtype, args)
    # the configured template, else the tokenizer's, else Zephyr's (the official fallback)
    tokenizer.chat_template = resolve_chat_template(cfg.chat_template) or chat_template_of(
        tokenizer
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[invariant_callback(f"spin train ({output_dir.name or 'sft'})")],
    )
    fp32_outputs(trainer.accelerator)  # the loss in float32 under FSDP2 too
    trainer.train(resume_from_checkpoint=last_checkpoint(ckpt_dir))
    return finish(trainer, ckpt_dir, output_dir / "model")
