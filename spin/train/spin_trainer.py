"""SPIN training on TRL's DPOTrainer.

SPIN's loss is exactly DPO's with chosen = the real response and rejected = the model's
own generation (tests/integration/test_spin_trainer_loss.py checks TRL's loss against
spin.losses.spin_loss on the same batch). The reference θt is the policy's own starting
point, so its log-probs are computed once, in one inference pass through the policy as the
Trainer prepared it, just before step 0 (spin.train.reference: under FSDP2 and ZeRO-3 any
earlier pass sees other weights), and no second model is held in memory during training.
Tokenisation is not TRL's own: `_prepare_dataset` is replaced by spin.train.dataset's, in
the configured layout, so SPIN and T-SPIN share one tokeniser and one collator (the clean
layout gives TRL's tokens exactly).
"""

from __future__ import annotations

import math
from pathlib import Path

from spin.config import TrainingConfig
from spin.train.arguments import (
    common_args,
    finish,
    fp32_outputs,
    last_checkpoint,
    load_for_training,
    mixed_precision,
)
from spin.train.dataset import ROLES, SequenceCollator, prepare_sequences
from spin.train.invariants import Step0Check, invariant_callback
from spin.train.reference import (
    IndexedCollator,
    reference_callback,
    reference_rows,
    with_example_index,
)

# The loss at Δ = 0 (step 0, policy = reference), per TRL loss type SPIN uses.
LOSS_AT_ZERO = {"sigmoid": math.log(2), "hinge": 1.0}


def dpo_config(cfg: TrainingConfig, output_dir: Path, seed: int, dtype: str):
    from trl import DPOConfig

    return DPOConfig(
        **common_args(cfg, output_dir, seed, dtype),
        beta=cfg.beta,
        loss_type=[cfg.loss_type],
        max_length=cfg.max_length,
        # Tells DPOTrainer to read ref_*_logps from each batch instead of running a reference
        # model; SPINTrainer fills them from its own pass (spin.train.reference).
        precompute_ref_log_probs=True,
        disable_dropout=True,
        # prepare_sequences keeps only the token columns; Trainer's pruning would drop the masks.
        remove_unused_columns=False,
    )


def spin_trainer_class():
    # TRL is imported lazily (as in the other trainers) so `import spin` stays cheap.
    from trl import DPOTrainer

    class SPINTrainer(DPOTrainer):
        """DPOTrainer reading spin.train.dataset's tokens, whose reference log-probs come from
        spin.train.reference's pass through the prepared policy.

        Tokens: TRL 1.16 has no public hook for a dataset that is already tokenised (it always
        runs `_prepare_dataset`), so that method is replaced by spin.train.dataset's.

        Reference: TRL 1.16 consumes precomputed reference log-probs as the ref_chosen_logps
        and ref_rejected_logps entries of each batch. Its own pass (`_precompute_ref_logps`,
        called from DPOTrainer.__init__) runs before the Trainer prepares the model, on a
        second model under FSDP (zeros on all ranks but 0) and a second engine under ZeRO-3
        (which breaks the training engine); this override only numbers the examples, and
        `compute_loss` fills each batch's entries from the table the pass made at
        on_train_begin. Under FSDP, DPOTrainer.__init__ still loads and shards its own
        reference copy (it does so before any hook), then drops it unused: a load's time.

        Step 0 checks the invariants of spin.train.invariants on the training forward's own
        log-probs, captured by a forward hook on the model."""

        def __init__(self, *, layout: str, max_prompt_length: int, **kwargs):
            self.layout, self.max_prompt_length = layout, max_prompt_length
            # Seconds in the reference pass (at on_train_begin); read by `spin bench`.
            self.reference_pass_s = 0.0
            self.reference_logps = None
            tokenizer = kwargs["processing_class"]
            pad = tokenizer.pad_token_id
            pad = tokenizer.eos_token_id if pad is None else pad  # TRL's own fallback
            kwargs["data_collator"] = IndexedCollator(SequenceCollator(pad, ROLES["pairs"]))
            super().__init__(**kwargs)
            fp32_outputs(self.accelerator)
            stage = f"spin train ({Path(self.args.output_dir).parent.name or 'spin'})"
            (loss_type,) = self.loss_types
            self.step0 = Step0Check(
                stage=stage,
                mixed_precision=mixed_precision(self),
                expected_loss=LOSS_AT_ZERO.get(loss_type),
                loss_slope=self.beta,
            )
            self.add_callback(reference_callback(self, lambda: ROLES["pairs"]))
            self.add_callback(invariant_callback(stage))

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
            # The pass itself runs at on_train_begin (spin.train.reference).
            return with_example_index(dataset)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            ref = reference_rows(self, inputs)
            # DPOTrainer hands every other key of the batch to the model: example_index goes.
            inputs = {k: v for k, v in inputs.items() if k != "example_index"}
            inputs["ref_chosen_logps"], inputs["ref_rejected_logps"] = ref[:, 0], ref[:, 1]
            if not self.step0.pending(self):
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            captured = []
            hook = self.model.register_forward_hook(
                lambda module, args, output: captured.append(output.log_probs.detach())
            )
            try:
                out = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            finally:
                hook.remove()
            # What TRL summed: the per-token log-probs as the forward returned them (float32
            # under every launcher, fp32_outputs; recorded so the launcher tests can see it).
            self.step0.record["summed_dtype"] = str(captured[-1].dtype).removeprefix("torch.")
            policy = captured[-1].sum(dim=1)
            tokens = inputs["completion_mask"].sum(dim=1)
            delta = policy - ref.T.reshape(-1).to(policy.dtype)
            loss = out[0] if return_outputs else out
            self.step0.check(self.accelerator, loss, delta, tokens)
            return out

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
    return finish(trainer, ckpt_dir, output_dir / "model", invariants=trainer.step0.record)
