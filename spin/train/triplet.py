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
[y; y′; y₀] of one right-padded batch. With β = 0 (T-SPIN iteration 0, the no-historical-
advantage ablation) y₀'s term has weight 0 and its rows are neither collated nor run: a step
costs a pair's.
With `reference=True` (T-SPIN_ref) the reference log-probs of θt are computed once when
training starts, from the starting model (which is θt) as the Trainer placed or sharded it,
so no second model is ever resident.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from spin.config import TrainingConfig
from spin.losses import tspin_loss
from spin.train.arguments import (
    common_args,
    finish,
    fp32_outputs,
    last_checkpoint,
    load_for_training,
    mixed_precision,
)
from spin.train.dataset import ROLES as ROLES_BY_KIND
from spin.train.dataset import SequenceCollator, prepare_sequences
from spin.train.invariants import Step0Check, invariant_callback
from spin.train.reference import (
    IndexedCollator,
    reference_callback,
    reference_rows,
    sequence_logps,
    with_example_index,
)

ROLES = ROLES_BY_KIND["triplets"]  # rows [y; y′; y₀] of a batch
# The collator's per-row tensors (the others, ref_*_logps and example_index, are per example).
SEQUENCE_KEYS = ("input_ids", "attention_mask", "completion_mask")


# ---------------------------------------------------------------- data


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
                # β = 0: the batches hold y and y′ rows only, padded to the longer of them, so no
                # y₀ tensor is built, padded or cut (the bench measured 1.38× SPIN's time with
                # y₀ collated and cut off afterwards).
                data_collator=SequenceCollator(processing_class.pad_token_id, self._roles()),
                train_dataset=train_dataset,
                processing_class=processing_class,
            )
            disable_dropout(self.model)
            add_fused_lm_head(self.model, outputs=("log_probs",))
            fp32_outputs(self.accelerator)
            # T-SPIN_ref: θt's log-probs, one row per example, filled when train() starts
            # (spin.train.reference: through the policy as the Trainer prepared it).
            self.reference_logps: Tensor | None = None
            self.reference_pass_s = 0.0
            stage = f"spin train ({Path(args.output_dir).parent.name or 'tspin'})"
            # At Δ = 0 every margin of eq. 7 is 0: loss (1 + β)·log 2, whatever α.
            self.step0 = Step0Check(
                stage=stage,
                mixed_precision=mixed_precision(self),
                expected_loss=(1 + beta) * math.log(2) if reference else None,
                loss_slope=2 * alpha * (1 + beta),
            )
            self.add_callback(invariant_callback(stage))
            if reference:
                self.train_dataset = with_example_index(self.train_dataset)
                self.data_collator = IndexedCollator(self.data_collator)
                self.add_callback(reference_callback(self, self._roles, reduction))

        def _roles(self) -> tuple[str, ...]:
            # β = 0 (T-SPIN iteration 0, tspin_noha): y₀'s term has weight 0, so y₀ is not run.
            return ROLES if self.beta else ROLES[:2]

        def _policy_logps(self, model, inputs) -> dict[str, Tensor]:
            """Log-probs of each role this loss uses, from one forward pass over its rows."""
            roles = self._roles()  # the collator built exactly these rows
            logps = sequence_logps(model, inputs, self.reduction)
            return dict(zip(roles, logps.chunk(len(roles)), strict=True))

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            refs = reference_rows(self, inputs) if self.reference else None
            logps = self._policy_logps(model, inputs)
            if self.reference:
                # spin.losses.tspin_ref_loss: eq. 7 on the log-ratios.
                scores = {r: lp - refs[:, i] for i, (r, lp) in enumerate(logps.items())}
            else:
                scores = dict(logps)
            # Without y₀ (β = 0) its score is a stand-in, y′'s detached: the historical term it
            # enters has weight 0, so loss and gradients are those of the full triplet.
            proto = scores.get("proto", scores["generated"].detach())
            losses = tspin_loss(
                scores["real"], scores["generated"], proto, alpha=self.alpha, beta=self.beta
            )
            loss = losses.mean()
            if self.step0.pending(self):
                tokens = inputs["completion_mask"].sum(dim=1)
                delta = torch.cat([scores[r] for r in logps]).detach()
                self.step0.check(self.accelerator, loss, delta, tokens)
            self._record(logps, scores)
            return (loss, {"logps": logps}) if return_outputs else loss

        def _record(self, logps: dict[str, Tensor], scores: dict[str, Tensor]) -> None:
            """Per-step metrics, gathered over processes: rewards α·logp (α·(logp − ref) with
            a reference) and log-probs of y, y′ (and y₀ when it is run), the share of examples
            whose reward prefers y over y′ while the likelihood prefers y′ (the paper's
            mismatch), and the two terms of eq. 7 unweighted (loss = current + β·historical;
            the historical one only when y₀ is run)."""
            roles = list(logps)
            with torch.no_grad():
                rewards = {r: self.alpha * scores[r].detach() for r in roles}
                lps = {r: logps[r].detach() for r in roles}
                # The margins inside eq. 7's two terms are reward differences in both forms.
                margin = rewards["real"] - rewards["generated"]
                mismatch = ((margin > 0) & (lps["real"] < lps["generated"])).float()
                columns = {
                    **{f"rewards/{r}": rewards[r] for r in roles},
                    "rewards/margin": margin,
                    "rewards/accuracy": (margin > 0).float(),
                    **{f"logps/{r}": lps[r] for r in roles},
                    "mismatch_share": mismatch,
                    "loss/current": -F.logsigmoid(margin),
                }
                if "proto" in roles:
                    columns["loss/historical"] = -F.logsigmoid(
                        rewards["generated"] - rewards["proto"]
                    )
                per_example = torch.stack(list(columns.values()), dim=1)
                # gather, not gather_for_metrics: the latter trims the last training batch as if
                # it were padding, which only holds for evaluation loaders.
                gathered = self.accelerator.gather(per_example).float().mean(dim=0)
            for name, value in zip(columns, gathered.tolist(), strict=True):
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
    args=None,
):
    """The TripletTrainer for a loaded model and an (untokenised) triplet dataset; `args`
    (default triplet_args) when they had to exist before the model was loaded."""
    return _trainer_class()(
        model=model,
        args=args or triplet_args(cfg, output_dir, seed, dtype),
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
    # The arguments first: under ZeRO-3 they make from_pretrained load the weights sharded.
    args = triplet_args(cfg, ckpt_dir, seed, dtype)
    model, tokenizer = load_for_training(model_path, dtype, args)
    trainer = build_triplet_trainer(
        model,
        tokenizer,
        load_from_disk(str(dataset_dir)),
        cfg,
        ckpt_dir,
        seed=seed,
        dtype=dtype,
        reference=reference,
        args=args,
    )
    trainer.train(resume_from_checkpoint=last_checkpoint(ckpt_dir))
    return finish(trainer, ckpt_dir, output_dir / "model", invariants=trainer.step0.record)
