"""SPIN training on TRL's DPOTrainer.

SPIN's loss is exactly DPO's with chosen = the real response and rejected = the model's
own generation (tests/integration/test_spin_trainer_loss.py checks TRL's loss against
spin.losses.spin_loss on the same batch). The reference θt is the policy's own starting
point, so its log-probs are precomputed once (precompute_ref_log_probs) and no second model
is held in memory during training. Tokenisation is not TRL's own: `_prepare_dataset` is
replaced by spin.train.dataset's, in the configured layout, so SPIN and T-SPIN share one
tokeniser and one collator (the clean layout gives TRL's tokens exactly).
"""

from __future__ import annotations

from pathlib import Path

from spin.config import TrainingConfig
from spin.train.arguments import common_args, finish, last_checkpoint, load_for_training
from spin.train.dataset import ROLES, SequenceCollator, prepare_sequences


def dpo_config(cfg: TrainingConfig, output_dir: Path, seed: int, dtype: str):
    from trl import DPOConfig

    return DPOConfig(
        **common_args(cfg, output_dir, seed, dtype),
        beta=cfg.beta,
        loss_type=[cfg.loss_type],
        max_length=cfg.max_length,
        precompute_ref_log_probs=True,
        disable_dropout=True,
        # prepare_sequences keeps only the token columns; Trainer's pruning would drop the masks.
        remove_unused_columns=False,
    )


def _trainer_class():
    from trl import DPOTrainer

    class SpinDPOTrainer(DPOTrainer):
        """DPOTrainer reading spin.train.dataset's tokens (TRL 1.16 has no public hook for a
        dataset that is already tokenised: it always runs `_prepare_dataset`)."""

        def __init__(self, *, layout: str, max_prompt_length: int, **kwargs):
            self.layout, self.max_prompt_length = layout, max_prompt_length
            tokenizer = kwargs["processing_class"]
            pad = tokenizer.pad_token_id
            pad = tokenizer.eos_token_id if pad is None else pad  # TRL's own fallback
            kwargs["data_collator"] = SequenceCollator(pad, ROLES["pairs"])
            super().__init__(**kwargs)

        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            return prepare_sequences(
                dataset,
                processing_class,
                args,
                roles=ROLES["pairs"],
                layout=self.layout,
                max_length=args.max_length,
                max_prompt_length=self.max_prompt_length,
            )

    return SpinDPOTrainer


def build_spin_trainer(
    model, tokenizer, dataset, cfg: TrainingConfig, output_dir: Path, *, seed: int, dtype: str
):
    """The SPIN DPOTrainer for a loaded model and an (untokenised) pair dataset: no reference
    model object, the reference log-probs precomputed from the starting weights."""
    return _trainer_class()(
        layout=cfg.layout,
        max_prompt_length=cfg.max_prompt_length,
        model=model,
        ref_model=None,
        args=dpo_config(cfg, output_dir, seed, dtype),
        train_dataset=dataset,
        processing_class=tokenizer,
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

    if cfg.logp_reduction != "sum":
        # TRL sums log-probs; SPIN's code sums too. Mean is offered for T-SPIN only.
        raise ValueError("SPIN training supports logp_reduction=sum only (as the official code)")
    output_dir = Path(output_dir)
    ckpt_dir = output_dir / "checkpoints"
    dataset = load_from_disk(str(dataset_dir))
    model, tokenizer = load_for_training(model_path, dtype)
    trainer = build_spin_trainer(model, tokenizer, dataset, cfg, ckpt_dir, seed=seed, dtype=dtype)
    trainer.train(resume_from_checkpoint=last_checkpoint(ckpt_dir))
    return finish(trainer, ckpt_dir, output_dir / "model")
