"""The reference pass: θt's log-probs of every training example, computed once, from the
policy itself as the Trainer prepared it, just before step 0. SPIN and T-SPIN_ref share it.

Why from the prepared policy, under every launcher. The reference is θt, the weights the
stage starts from, so the policy before its first update *is* the reference (the official
code loads the same checkpoint twice; one model suffices). Run anywhere earlier, the pass
sees something else:
- FSDP2 with `fsdp_cpu_ram_efficient_loading` (replication/accelerate/fsdp2-*.yaml):
  transformers loads zeros on every rank but rank 0, and accelerate broadcasts rank 0's
  weights only when the Trainer prepares the model. TRL 1.16's DPOTrainer, under FSDP,
  instead loads a second model from the checkpoint path and shards it with `fully_shard`
  and no broadcast: the reference was zeros on half the shards of a 2-process run (issue
  23: step-0 Δ of up to 7 nats; SPIN's loss 1.13 and 33.96 where log 2 was due).
- DeepSpeed ZeRO-3: TRL wraps the policy in a second (inference) engine for its pass; its
  hooks stay on the module, and the training engine's first forward then fails in
  DeepSpeed's parameter coordinator ("pop from an empty deque", seen here on 2 CPU
  processes). Through the training engine itself, each layer's partitions are gathered
  as in training, no rank holds the whole model and no second model is loaded.
So the pass runs in a callback's on_train_begin, through `trainer.model_wrapped`, under
the training forward's own autocast (`compute_loss_context_manager`). Batches are sorted
by length, REFERENCE_BATCH_FACTOR times the training batch (no activations are kept), sharded
over the processes and gathered back with their example indices, so every rank ends with
the whole table. It is cached in the stage's checkpoint folder, so a resumed run (whose
weights are no longer θt) reads it back instead of scoring with trained weights.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

log = logging.getLogger(__name__)

REFERENCE_BATCH_FACTOR = 4
"""The pass's batches are this many times the training batch: it keeps no activations for a
backward pass, and sorted by length its batches pad little (spin bench measures it)."""
CACHE_NAME = "reference_logps.pt"


def sequence_logps(model, batch: dict[str, Tensor], reduction: str = "sum") -> Tensor:
    """Per-row log-prob of the completion tokens, summed (or averaged) in float32, via TRL's
    fused LM head (the model must have been patched with `add_fused_lm_head`; DPOTrainer's
    training forward is this same call). float32 whatever the forward's precision: FSDP2's
    mixed-precision policy returns bf16 outputs, and a bf16 sum of a few hundred
    log-probs of -1 to -10 loses whole nats."""
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
    per_token = outputs.log_probs[:, -shift_mask.size(1) :].float() * shift_mask
    logps = per_token.sum(dim=1)
    if reduction == "mean":
        logps = logps / shift_mask.sum(dim=1).clamp(min=1)
    return logps


def with_example_index(dataset):
    """The dataset with an `example_index` column: the row of its reference log-probs."""
    return dataset.add_column("example_index", list(range(len(dataset))))


@dataclass
class IndexedCollator:
    """A collator's batch plus each example's `example_index` (its reference row)."""

    collate: Any

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Tensor]:
        index = torch.tensor([ex["example_index"] for ex in examples])
        return {**self.collate(examples), "example_index": index}


def response_lengths(dataset, roles: tuple[str, ...]) -> list[int]:
    """Tokens of each example's longest row (prompt + response), to sort the pass by."""
    columns = [dataset[f"{role}_ids"] for role in roles]
    return [len(p) + max(len(c[i]) for c in columns) for i, p in enumerate(dataset["prompt_ids"])]


def reference_table(trainer, roles: tuple[str, ...], reduction: str = "sum") -> Tensor:
    """θt's log-probs of each example's responses, (examples, len(roles)) float32: one
    no-grad pass over trainer.train_dataset through trainer.model_wrapped (see the module
    docstring). Read back from the stage's cache when the dataset is the same."""
    from torch.utils.data import DataLoader

    from spin.io import atomic_path

    dataset = trainer.train_dataset
    cache = Path(trainer.args.output_dir) / CACHE_NAME
    if cache.exists():
        saved = torch.load(cache)
        if saved["fingerprint"] == dataset._fingerprint and saved["roles"] == list(roles):
            return saved["logps"]
    if trainer.state.global_step > 0:
        raise RuntimeError(
            f"resuming at step {trainer.state.global_step} without {cache}: "
            "θt's reference log-probs cannot come from trained weights"
        )
    start = time.perf_counter()
    n = len(dataset)
    # Longest first, so a batch size that runs out of memory fails at the first batch.
    order = _longest_first(dataset, roles)
    loader = trainer.accelerator.prepare(
        DataLoader(
            dataset.select(order),
            batch_size=REFERENCE_BATCH_FACTOR * trainer.args.per_device_train_batch_size,
            collate_fn=trainer.data_collator,
            shuffle=False,
        )
    )
    model = trainer.model_wrapped
    was_training = model.training
    model.eval()
    table = torch.full((n, len(roles)), float("nan"))
    with torch.no_grad():
        for batch in loader:
            batch = {k: v.to(trainer.accelerator.device) for k, v in batch.items()}
            with trainer.compute_loss_context_manager():
                logps = sequence_logps(model, batch, reduction)
            per_role = torch.stack(logps.chunk(len(roles)), dim=1)  # (batch, role)
            index, per_role = trainer.accelerator.gather_for_metrics(
                (batch["example_index"], per_role)
            )
            table[index.cpu()] = per_role.float().cpu()
    model.train(was_training)
    if table.isnan().any():
        missing = int(table.isnan().any(dim=1).sum())
        raise RuntimeError(f"reference pass left {missing} of {n} examples unscored")
    if trainer.accelerator.is_main_process:
        with atomic_path(cache) as tmp:
            torch.save(
                {"fingerprint": dataset._fingerprint, "roles": list(roles), "logps": table}, tmp
            )
    seconds = time.perf_counter() - start
    log.info("reference pass: %d examples in %.1f s", n, seconds)
    trainer.reference_pass_s += seconds
    return table


def _longest_first(dataset, roles: tuple[str, ...]) -> list[int]:
    lengths = response_lengths(dataset, roles)
    return sorted(range(len(lengths)), key=lambda i: -lengths[i])


def reference_rows(trainer, inputs: dict[str, Tensor]) -> Tensor:
    """The reference log-probs of a batch's examples, (batch, roles), by `example_index`."""
    return trainer.reference_logps.to(inputs["input_ids"].device)[inputs["example_index"]]


def reference_callback(trainer, roles_of, reduction: str = "sum"):
    """A callback that fills trainer.reference_logps once the Trainer has prepared the model;
    `roles_of()` gives the roles the loss uses."""
    from transformers import TrainerCallback

    class ReferencePass(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            trainer.reference_logps = reference_table(trainer, roles_of(), reduction)

    return ReferencePass()
