"""Supervised fine-tuning on (prompt, completion) pairs with TRL's SFTTrainer: builds θ0
in the tiny preset, rebuilds zephyr-7b-sft-full at scale, and runs the continued-SFT
baseline (the SPIN paper's Table 3)."""

from __future__ import annotations

from pathlib import Path

from spin.config import SFTConfig
from spin.prompts import resolve_chat_template
from spin.train.arguments import common_args, finish, last_checkpoint, load_for_training


def train_sft(
    model_path: str,
    dataset_dir: str | Path,
    output_dir: str | Path,
    cfg: SFTConfig,
    *,
    seed: int,
    dtype: str = "float32",
) -> dict:
    """Fine-tune model_path on dataset_dir (columns prompt, completion: rendered prompt
    text and response). Loss on completion tokens only; EOS appended by TRL."""
    from datasets import load_from_disk
    from trl import SFTConfig as TRLSFTConfig
    from trl import SFTTrainer

    output_dir = Path(output_dir)
    ckpt_dir = output_dir / "checkpoints"
    args = TRLSFTConfig(
        **common_args(cfg, ckpt_dir, seed, dtype),
        max_length=cfg.max_length,
        completion_only_loss=True,
        packing=False,
    )
    model, tokenizer = load_for_training(model_path, dtype, args)
    template = resolve_chat_template(cfg.chat_template)
    if template:
        tokenizer.chat_template = template
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=load_from_disk(str(dataset_dir)),
        processing_class=tokenizer,
    )
    trainer.train(resume_from_checkpoint=last_checkpoint(ckpt_dir))
    return finish(trainer, ckpt_dir, output_dir / "model")
