"""T-SPIN training: a small `transformers.Trainer` subclass for (prompt, y, y′, y₀) triplets.

Why a Trainer subclass and not a DPOTrainer subclass. A triplet touches nearly every part of
TRL 1.16's DPOTrainer: its tokenizer is a closure inside `_prepare_dataset` that knows only
chosen/rejected (so the third column would need a second pass anyway), its collator and
reference pass split the batch with `chunk(2)`, `_set_signature_columns_if_needed` drops
unknown columns, `_compute_loss` (300 lines) hard-codes the pairwise loss and metrics, and
with `precompute_ref_log_probs=False` its `__init__` loads a second model, which the
reference-free T-SPIN must never do. Overriding all of that leaves only `__init__` plumbing,
tied to private names that change between TRL releases. This subclass uses the public
Trainer API only (`compute_loss`, `log`, `loss_is_scaled_for_ga`) plus TRL's public
`add_fused_lm_head`, the same chunked log-prob kernel DPOTrainer uses, so SPIN and T-SPIN
log-probs come from identical code and no (batch, length, vocab) logits are materialised.

T-SPIN and SPIN see the same tokens: both trainers tokenise with spin.train.dataset
(`prepare_sequences`, `SequenceCollator`) in the configured layout, official (uclaml/SPIN's
collator) or clean (TRL's). Log-probs are summed over response tokens (or averaged, with
`logp_reduction: mean`).

All three responses go through the policy in one concatenated forward pass, as rows
[y; y′; y₀] of one right-padded batch. With `reference=True` (T-SPIN_ref) the reference
log-probs of θt are computed once before training from the starting model (which is θt),
sharded across processes, so no second model is ever resident.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from spin.config import TrainingConfig
from spin.losses import tspin_loss, tspin_ref_loss
from spin.train.arguments import common_args, finish, last_checkpoint, load_for_training
from spin.train.dataset import ROLES as ROLES_BY_KIND
from spin.train.dataset import SequenceCollator, prepare_sequences

log = logging.getLogger(__name__)

ROLES = ROLES_BY_KIND["triplets"]  # rows [y; y′; y₀] of a batch


# ---------------------------------------------------------------- data


def sequence_logps_fused(model, batch: dict[str, Tensor], reduction: str) -> Tensor:
    """Per-row log-prob of the completion tokens, via TRL's fused LM head (the model must
    have been patched with `add_fused_lm_head`). `reduction` is sum or mean over tokens."""
    completion_mask = batch["completion_mask"]
    labels = batch["input_ids"].masked_fill(completion_mask == 0, -100)
    outputs = model(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        labels=labels,
        fused_lm_head=True,
        use_cache=False,
    )
    shift_mask = completion_mask[:, 1:]
    # Positions whose label is -100 come back as 0; the mask makes that explicit.
    per_token = outputs.log_probs[:, -shift_mask.size(1) :] * shift_mask
    logps = per_token.sum(dim=1)
    if reduction == "mean":
        logps = logps / shift_mask.sum(dim=1).clamp(min=1)
    return logps


def disable_dropout(model: torch.nn.Module) -> None:
    """Zero every dropout: nn.Dropout modules and the float rates attention layers read at
    forward time (Mistral/Llama keep `attention_dropout` on the module)."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        for attr in ("attention_dropout", "dropout_rate"):
            if isinstance(getattr(module, attr, None), float):
                setattr(module, attr, 0.0)


# ---------------------------------------------------------------- trainer


def _trainer_class():
    # transformers is imported lazily (as in the other trainers) so `import spin` stays cheap.
    from transformers import Trainer

    class TripletTrainer(Trainer):
        """Trainer whose loss is T-SPIN's (or T-SPIN_ref's) on (prompt, y, y′, y₀) batches."""

        # compute_loss returns a per-batch mean: Trainer divides by the accumulation steps.
        loss_is_scaled_for_ga = False

        def __init__(
            self,
            *,
            model,
            args,
            train_dataset,
            processing_class,
            alpha: float,
            beta: float,
            max_length: int | None = None,
            max_prompt_length: int | None = None,
            layout: str = "clean",
            reduction: str = "sum",
            reference: bool = False,
        ):
            from trl.trainer.utils import add_fused_lm_head

            if reduction not in ("sum", "mean"):
                raise ValueError(f"logp reduction '{reduction}' is not sum or mean")
            self.alpha, self.beta = alpha, beta
            self.reduction, self.reference = reduction, reference
            self._metrics: dict[str, list[float]] = defaultdict(list)
            train_dataset = prepare_sequences(
                train_dataset,
                processing_class,
                args,
                roles=ROLES,
                layout=layout,
                max_length=max_length,
                max_prompt_length=max_prompt_length,
            )
            super().__init__(
                model=model,
                args=args,
                data_collator=SequenceCollator(processing_class.pad_token_id, ROLES),
                train_dataset=train_dataset,
                processing_class=processing_class,
            )
            disable_dropout(self.model)
            add_fused_lm_head(self.model, outputs=("log_probs",))
            if reference:
                self.train_dataset = self._precompute_reference(self.train_dataset)

        def _precompute_reference(self, dataset):
            """Add ref_{real,generated,proto}_logps columns: θt's log-probs, computed with the
            starting weights before any step. Batches are sharded across processes and
            gathered back in order, so every rank ends with the full columns."""
            from torch.utils.data import DataLoader

            loader = self.accelerator.prepare(
                DataLoader(
                    dataset,
                    batch_size=self.args.per_device_train_batch_size,
                    collate_fn=self.data_collator,
                    shuffle=False,
                )
            )
            was_training = self.model.training
            self.model.eval()
            chunks = []
            with torch.no_grad():
                for batch in loader:
                    batch = {k: v.to(self.accelerator.device) for k, v in batch.items()}
                    logps = sequence_logps_fused(self.model, batch, self.reduction)
                    triple = torch.stack(logps.chunk(3), dim=1)  # (batch, role)
                    chunks.append(self.accelerator.gather_for_metrics(triple).cpu())
            self.model.train(was_training)
            ref = torch.cat(chunks)
            if len(ref) != len(dataset):
                raise RuntimeError(f"reference pass scored {len(ref)} of {len(dataset)} examples")
            for i, role in enumerate(ROLES):
                dataset = dataset.add_column(f"ref_{role}_logps", ref[:, i].tolist())
            return dataset

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            logps = sequence_logps_fused(model, inputs, self.reduction)
            real, generated, proto = logps.chunk(3)
            if self.reference:
                refs = [inputs[f"ref_{role}_logps"].to(logps.dtype) for role in ROLES]
                losses = tspin_ref_loss(
                    real, generated, proto, *refs, alpha=self.alpha, beta=self.beta
                )
                scores = [lp - r for lp, r in zip((real, generated, proto), refs, strict=True)]
            else:
                losses = tspin_loss(real, generated, proto, alpha=self.alpha, beta=self.beta)
                scores = [real, generated, proto]
            loss = losses.mean()
            self._record((real, generated, proto), scores)
            return (loss, {"logps": logps}) if return_outputs else loss

        def _record(self, logps: tuple[Tensor, ...], scores: list[Tensor]) -> None:
            """Per-step metrics, gathered over processes: rewards α·logp (α·(logp − ref) with
            a reference) and log-probs of y, y′, y₀, and the share of examples whose reward
            prefers y over y′ while the likelihood prefers y′ (the paper's mismatch), and the
            two terms of eq. 7 unweighted (loss = current + β·historical)."""
            with torch.no_grad():
                rewards = [self.alpha * s.detach() for s in scores]
                lps = [lp.detach() for lp in logps]
                # The margins inside eq. 7's two terms are reward differences in both forms.
                u, v = rewards[0] - rewards[1], rewards[1] - rewards[2]
                mismatch = ((rewards[0] > rewards[1]) & (lps[0] < lps[1])).float()
                per_example = torch.stack(
                    [
                        *rewards,
                        rewards[0] - rewards[1],
                        (rewards[0] > rewards[1]).float(),
                        *lps,
                        mismatch,
                        -F.logsigmoid(u),
                        -F.logsigmoid(v),
                    ],
                    dim=1,
                )
                # gather, not gather_for_metrics: the latter trims the last training batch as if
                # it were padding, which only holds for evaluation loaders.
                gathered = self.accelerator.gather(per_example).float().mean(dim=0)
            names = [
                *(f"rewards/{r}" for r in ROLES),
                "rewards/margin",
                "rewards/accuracy",
                *(f"logps/{r}" for r in ROLES),
                "mismatch_share",
                "loss/current",
                "loss/historical",
            ]
            for name, value in zip(names, gathered.tolist(), strict=True):
                self._metrics[name].append(value)

        def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
            # Averages of the steps since the last log; the final summary log has none.
            if self._metrics and "loss" in logs:
                logs.update({k: sum(v) / len(v) for k, v in self._metrics.items()})
                self._metrics.clear()
            super().log(logs, start_time)

    return TripletTrainer


def triplet_args(cfg: TrainingConfig, output_dir: Path, seed: int, dtype: str):
    """TrainingArguments for the triplet trainer. Columns are pruned by prepare_sequences, so
    Trainer's own pruning (which would drop them all: the model takes no `proto_ids`) is off."""
    from transformers import TrainingArguments

    return TrainingArguments(
        **common_args(cfg, output_dir, seed, dtype), remove_unused_columns=False
    )


def build_triplet_trainer(
    model,
    tokenizer,
    dataset,
    cfg: TrainingConfig,
    output_dir: Path,
    *,
    seed: int,
    dtype: str = "float32",
    reference: bool = False,
):
    """The TripletTrainer for a loaded model and an (untokenised) triplet dataset."""
    return _trainer_class()(
        model=model,
        args=triplet_args(cfg, output_dir, seed, dtype),
        train_dataset=dataset,
        processing_class=tokenizer,
        alpha=cfg.alpha,
        beta=cfg.beta,
        max_length=cfg.max_length,
        max_prompt_length=cfg.max_prompt_length,
        layout=cfg.layout,
        reduction=cfg.logp_reduction,
        reference=reference,
    )


def train_tspin(
    model_path: str,
    dataset_dir: str | Path,
    output_dir: str | Path,
    cfg: TrainingConfig,
    *,
    seed: int,
    dtype: str = "float32",
    reference: bool = False,
) -> dict:
    """Train θt+1 from θt = model_path on the triplets saved (with `datasets.save_to_disk`)
    in dataset_dir: columns prompt, chosen (y, real), rejected (y′, θt's generation), proto
    (y₀, θ0's generation). Loss: T-SPIN eq. 7 (reference-free), or T-SPIN_ref with reference
    θt when `reference`. The model is saved to output_dir/model; trainer checkpoints go to
    output_dir/checkpoints and a killed run resumes from the newest."""
    from datasets import load_from_disk

    output_dir = Path(output_dir)
    ckpt_dir = output_dir / "checkpoints"
    model, tokenizer = load_for_training(model_path, dtype)
    trainer = build_triplet_trainer(
        model,
        tokenizer,
        load_from_disk(str(dataset_dir)),
        cfg,
        ckpt_dir,
        seed=seed,
        dtype=dtype,
        reference=reference,
    )
    trainer.train(resume_from_checkpoint=last_checkpoint(ckpt_dir))
    return finish(trainer, ckpt_dir, output_dir / "model")
