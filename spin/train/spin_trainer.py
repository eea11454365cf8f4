"""SPIN training on TRL's DPOTrainer.

SPIN's loss is exactly DPO's with chosen = the real response and rejected = the model's
own generation (tests/integration/test_spin_trainer_loss.py checks TRL's loss against
spin.losses.spin_loss on the same batch). The reference θt is the policy's own starting
point, so its log-probs are computed once, before training, in one inference pass over the
dataset (SPINTrainer), and no second model is held in memory during training.
Tokenisation is not TRL's own: `_prepare_dataset` is replaced by spin.train.dataset's, in
the configured layout, so SPIN and T-SPIN share one tokeniser and one collator (the clean
layout gives TRL's tokens exactly).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from spin.config import TrainingConfig
from spin.train.arguments import common_args, finish, last_checkpoint, load_for_training
from spin.train.dataset import ROLES, SequenceCollator, prepare_sequences

log = logging.getLogger(__name__)

# The reference pass keeps no activations for a backward pass, so its batches can be this
# many times the training batch (as generation's are); sorted by length, they pad little.
REFERENCE_BATCH_FACTOR = 4


def dpo_config(cfg: TrainingConfig, output_dir: Path, seed: int, dtype: str):
    from trl import DPOConfig

    return DPOConfig(
        **common_args(cfg, output_dir, seed, dtype),
        beta=cfg.beta,
        loss_type=[cfg.loss_type],
        max_length=cfg.max_length,
        precompute_ref_log_probs=True,
        precompute_ref_batch_size=REFERENCE_BATCH_FACTOR * cfg.per_device_train_batch_size,
        disable_dropout=True,
        # prepare_sequences keeps only the token columns; Trainer's pruning would drop the masks.
        remove_unused_columns=False,
    )


def spin_trainer_class():
    # TRL is imported lazily (as in the other trainers) so `import spin` stays cheap.
    import torch
    from torch.utils.data import DataLoader
    from trl import DPOTrainer
    from trl.models import prepare_deepspeed

    class SPINTrainer(DPOTrainer):
        """DPOTrainer reading spin.train.dataset's tokens, whose reference log-probs come from
        one sorted, batched inference pass.

        Tokens: TRL 1.16 has no public hook for a dataset that is already tokenised (it always
        runs `_prepare_dataset`), so that method is replaced by spin.train.dataset's.

        Reference: TRL 1.16 consumes precomputed reference log-probs as the ref_chosen_logps
        and ref_rejected_logps columns of the tokenised dataset (the collator batches them and
        `_compute_loss` reads them instead of running a reference model). Its own pass, in
        `_precompute_ref_logps` (called from DPOTrainer.__init__ with
        precompute_ref_log_probs), hashes every weight for a cache key and runs batches in
        dataset order; this override fills the same columns with one pass over the examples
        sorted by length, in inference mode, with TRL's own `compute_ref_log_probs` (the
        fused log-prob kernel the training forward uses), so the values equal what the
        policy gives at step 0 up to padding and kernel order. The model it runs is TRL's
        choice: under DeepSpeed an inference engine that gathers ZeRO-3's partitions."""

        def __init__(self, *, layout: str, max_prompt_length: int, **kwargs):
            self.layout, self.max_prompt_length = layout, max_prompt_length
            # Seconds in the reference pass (run inside super().__init__); read by `spin bench`.
            self.reference_pass_s = 0.0
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

        def _precompute_ref_logps(self, dataset, name: str, batch_size: int):
            start = time.perf_counter()
            n = len(dataset)
            real, generated = (f"{role}_ids" for role in ROLES["pairs"])
            lengths = [
                len(p) + max(len(c), len(r))
                for p, c, r in zip(
                    dataset["prompt_ids"], dataset[real], dataset[generated], strict=True
                )
            ]
            # Longest first, so an out-of-memory batch size fails at the first batch.
            order = sorted(range(n), key=lambda i: -lengths[i])
            loader = self.accelerator.prepare(
                DataLoader(
                    dataset.select(order),
                    batch_size=batch_size,
                    collate_fn=self.data_collator,
                    shuffle=False,
                )
            )
            if self.ref_model is None and self.is_deepspeed_enabled:
                if self._precompute_engine is None:
                    self._precompute_engine = prepare_deepspeed(self.model, self.accelerator)
                model = self._precompute_engine
            else:
                model = self.ref_model or self.model
            chosen, rejected = [], []
            with torch.inference_mode():
                for batch in loader:
                    c, r = self.accelerator.gather_for_metrics(
                        self.compute_ref_log_probs(model, batch)
                    )
                    chosen.append(c.float().cpu())
                    rejected.append(r.float().cpu())
            columns = {
                "ref_chosen_logps": torch.cat(chosen),
                "ref_rejected_logps": torch.cat(rejected),
            }
            if any(len(v) != n for v in columns.values()):
                raise RuntimeError(
                    f"reference pass scored {len(columns['ref_chosen_logps'])} of {n}"
                )
            for key, sorted_values in columns.items():
                values = torch.empty(n)
                values[order] = sorted_values
                dataset = dataset.add_column(key, values.tolist())
            seconds = time.perf_counter() - start
            log.info("reference pass: %d examples in %.1f s", n, seconds)
            self.reference_pass_s += seconds
            return dataset

    return SPINTrainer


def build_spin_trainer(
    model,
    tokenizer,
    dataset,
    cfg: TrainingConfig,
    output_dir: Path,
    *,
    seed: int,
    dtype: str,
    args=None,
):
    """The SPIN trainer for a loaded model and an (untokenised) pair dataset: no reference
    model object, the reference log-probs computed once from the starting weights; `args`
    (default dpo_config) when they had to exist before the model was loaded."""
    return spin_trainer_class()(
        layout=cfg.layout,
        max_prompt_length=cfg.max_prompt_length,
        model=model,
        ref_model=None,
        args=args or dpo_config(cfg, output_dir, seed, dtype),
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
    # The arguments first: under ZeRO-3 they make from_pretrained load the weights sharded.
    args = dpo_config(cfg, ckpt_dir, seed, dtype)
    model, tokenizer = load_for_training(model_path, dtype, args)
    trainer = build_spin_trainer(
        model, tokenizer, dataset, cfg, ckpt_dir, seed=seed, dtype=dtype, args=args
    )
    trainer.train(resume_from_checkpoint=last_checkpoint(ckpt_dir))
    return finish(trainer, ckpt_dir, output_dir / "model")
