"""SPIN training on TRL's DPOTrainer.

SPIN's loss is exactly DPO's with chosen = the real response and rejected = the model's
own generation (tests/integration/test_spin_trainer_loss.py checks TRL's loss against
spin.losses.spin_loss on the same batch). The reference θt is the policy's own starting
point, so its log-probs are precomputed once (precompute_ref_log_probs) and no second model
is held in memory during training.
"""

from __future__ import annotations

from pathlib import Path

from spin.config import TrainingConfig
from spin.train.arguments import common_args, finish, last_checkpoint, load_for_training


def dpo_config(cfg: TrainingConfig, output_dir: Path, seed: int, dtype: str):
    from trl import DPOConfig

    return DPOConfig(
        **common_args(cfg, output_dir, seed, dtype),
        beta=cfg.beta,
        loss_type=[cfg.loss_type],
        max_length=cfg.max_length,
        precompute_ref_log_probs=True,
        disable_dropout=True,
        remove_unused_columns=True,
    )


def train_spin(
    model_path: str,
    dataset_dir: str | Path,
    output_dir: str | Path,
    cfg: TrainingConfig,
    *,
    seed: int,
    dtype: str = "float32",
) -> dict:
    """Train θt+1 from θt = model_path against the reference θt on the pairs saved (with
    `datasets.save_to_disk`) in dataset_dir: columns prompt, chosen (real), rejected
    (generated). The model is saved to output_dir/model; trainer checkpoints go to
    output_dir/checkpoints and a killed run resumes from the newest."""
    from datasets import load_from_disk
    from trl import DPOTrainer

    if cfg.logp_reduction != "sum":
        # TRL sums log-probs; SPIN's code sums too. Mean is offered for T-SPIN only.
        raise ValueError("SPIN training supports logp_reduction=sum only (as the official code)")
    output_dir = Path(output_dir)
    ckpt_dir = output_dir / "checkpoints"
    dataset = load_from_disk(str(dataset_dir))
    args = dpo_config(cfg, ckpt_dir, seed, dtype)
    model, tokenizer = load_for_training(model_path, dtype, args)
    trainer = DPOTrainer(
        model=model,
        ref_model=None,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    trainer.train(resume_from_checkpoint=last_checkpoint(ckpt_dir))
    return finish(trainer, ckpt_dir, output_dir / "model")
