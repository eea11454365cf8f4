"""TRL's DPOTrainer, built as train_spin builds it (SPINTrainer), computes
spin.losses.spin_loss, and its reference pass gives Δ = 0 at step 0.

This is how DESIGN.md's loss contract is met for SPIN: SPIN trains on TRL's DPOTrainer, and
this test shows that its loss on a batch equals spin_loss (mean over the batch) on log-probs
computed here independently, one unpadded example at a time.
"""

from __future__ import annotations

import math

import pytest
import torch
from datasets import load_from_disk
from transformers import AutoModelForCausalLM, AutoTokenizer

from spin.config import TrainingConfig
from spin.losses import spin_loss
from spin.tiny.tasks import make_items
from spin.train.dataset import ROLES, build_dataset
from spin.train.invariants import tolerance
from spin.train.reference import reference_table, sequence_logps
from spin.train.spin_trainer import build_spin_trainer
from tests.integration.hand_logps import hand_logps

BETA = 0.1


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("spin_loss")
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    pairs = make_items(6, seed=5)
    records = [
        # y the right answer, y′ another item's answer with a varying tail (so rows need padding)
        {
            "prompt": it["prompt"],
            "real": it["answer"],
            "generated": pairs[(i + 2) % 6]["answer"] + " x" * i,
        }
        for i, it in enumerate(pairs)
    ]
    build_dataset(
        records,
        tokenizer,
        kind="pairs",
        prompt_format="chat",
        max_prompt_length=64,
        out_dir=root / "data",
    )
    return {"model": tiny_model_dir, "data": root / "data"}


@pytest.mark.parametrize("loss_type", ["sigmoid", "hinge"])
def test_dpo_trainer_loss_is_spin_loss(tiny, tmp_path, loss_type):
    cfg = TrainingConfig(
        beta=BETA,
        loss_type=loss_type,
        per_device_train_batch_size=4,
        max_length=128,
        max_prompt_length=64,
        layout="clean",  # hand_logps tokenises as the clean layout does
    )
    tokenizer = AutoTokenizer.from_pretrained(tiny["model"])
    model = AutoModelForCausalLM.from_pretrained(tiny["model"])
    # As train_spin builds it: no reference model object, reference log-probs precomputed.
    trainer = build_spin_trainer(
        model, tokenizer, load_from_disk(str(tiny["data"])), cfg, tmp_path, seed=0, dtype="float32"
    )
    assert trainer.ref_model is None
    trainer.reference_logps = reference_table(trainer, ROLES["pairs"])  # as on_train_begin does
    rows = load_from_disk(str(tiny["data"])).select(range(4)).to_list()
    collate = trainer.data_collator
    batch = trainer._prepare_inputs(collate([trainer.train_dataset[i] for i in range(4)]))
    ref_real, ref_generated = (
        hand_logps(model, tokenizer, rows, "chosen"),
        hand_logps(model, tokenizer, rows, "rejected"),
    )
    ref = trainer.reference_logps[batch["example_index"]]
    torch.testing.assert_close(ref[:, 0], ref_real, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(ref[:, 1], ref_generated, rtol=1e-5, atol=1e-4)

    # Step 0: policy = reference, Δ = 0, so sigmoid gives log 2 and hinge gives 1 (and the
    # stage's own step-0 check, which runs inside compute_loss at step 0, agrees).
    at_start = trainer.compute_loss(trainer.model, batch).item()
    assert trainer.step0.record["step0_max_abs_delta"] <= 1e-4
    assert at_start == pytest.approx(math.log(2) if loss_type == "sigmoid" else 1.0, abs=1e-5)

    # Move the policy away from the reference so that Δ ≠ 0, and compare again.
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in trainer.model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    real, generated = (
        hand_logps(model, tokenizer, rows, "chosen"),
        hand_logps(model, tokenizer, rows, "rejected"),
    )
    delta = (real - ref_real) - (generated - ref_generated)
    assert delta.abs().min() > 1e-2
    expected = spin_loss(
        real, generated, ref_real, ref_generated, beta=BETA, loss_type=loss_type
    ).mean()
    trainer.state.global_step = 1  # past step 0: Δ ≠ 0 is what training does
    loss = trainer.compute_loss(trainer.model, batch)
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-5, atol=1e-5)
    assert abs(loss.item() - at_start) > 1e-3


# Δ at step 0 (policy = reference), per sequence, in nats of a summed log-prob: fp32 differs
# only by the padding and batch composition of the sorted pass against the training batches;
# bf16 autocast rounds each matmul to 8 mantissa bits, so the same differences grow. The
# allowed |Δ| is the stage's own (spin.train.invariants.TOLERANCE), for these lengths.


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_reference_pass_gives_zero_delta_at_step_0(tiny, tmp_path, dtype):
    cfg = TrainingConfig(
        beta=BETA,
        per_device_train_batch_size=2,
        max_length=128,
        max_prompt_length=64,
        layout="clean",  # the tiny model's format
    )
    tokenizer = AutoTokenizer.from_pretrained(tiny["model"])
    model = AutoModelForCausalLM.from_pretrained(tiny["model"])
    trainer = build_spin_trainer(
        model,
        tokenizer,
        load_from_disk(str(tiny["data"])),
        cfg,
        tmp_path,
        seed=0,
        dtype=dtype,
    )
    trainer.reference_logps = reference_table(trainer, ROLES["pairs"])
    worst, allowed = 0.0, float("inf")
    for batch in trainer.get_train_dataloader():  # shuffled training batches of 2
        batch = trainer._prepare_inputs(batch)
        ref = trainer.reference_logps[batch["example_index"]]
        with trainer.compute_loss_context_manager():
            policy = sequence_logps(trainer.model, batch)  # the policy, θ = θt
        delta = policy - ref.T.reshape(-1)
        worst = max(worst, delta.abs().max().item())
        tokens = batch["completion_mask"].sum(dim=1)
        allowed = min(allowed, tolerance(dtype == "bfloat16", tokens).min().item())
    print(f"max |Δ logp| at step 0, {dtype}: {worst:.2e} (allowed {allowed:.2e})")
    assert worst <= allowed


def test_the_clean_layout_is_trls_own_tokenisation(tiny, tmp_path):
    """The clean layout reproduces TRL's DPOTrainer tokens exactly (the tiny preset's losses
    depend on it): the same batches from a stock DPOTrainer and from train_spin's, with
    prompts over max_prompt_length and sequences over max_length."""
    from trl import DPOTrainer

    from spin.train.spin_trainer import dpo_config

    cfg = TrainingConfig(
        per_device_train_batch_size=4, max_length=64, max_prompt_length=32, layout="clean"
    )
    tokenizer = AutoTokenizer.from_pretrained(tiny["model"])
    model = AutoModelForCausalLM.from_pretrained(tiny["model"])
    items = make_items(8, seed=6)
    records = [
        {
            "prompt": it["prompt"] * (1 + i % 2),
            "real": it["answer"] + " long" * 20,
            "generated": "x",
        }
        for i, it in enumerate(items)
    ]
    build_dataset(
        records,
        tokenizer,
        kind="pairs",
        prompt_format="chat",
        max_prompt_length=32,
        out_dir=tmp_path / "data",
    )
    ours = build_spin_trainer(
        model,
        tokenizer,
        load_from_disk(str(tmp_path / "data")),
        cfg,
        tmp_path / "a",
        seed=0,
        dtype="float32",
    )
    stock = DPOTrainer(
        model=model,
        ref_model=None,
        args=dpo_config(cfg, tmp_path / "b", 0, "float32"),
        train_dataset=load_from_disk(str(tmp_path / "data")),
        processing_class=tokenizer,
    )
    assert len(ours.train_dataset) == len(stock.train_dataset) > 0
    rows = range(len(ours.train_dataset))
    a = ours.data_collator([ours.train_dataset[i] for i in rows])
    b = stock.data_collator([stock.train_dataset[i] for i in rows])
    # the token tensors; the reference log-probs arrive by another road (ours: example_index)
    tokens = {"input_ids", "attention_mask", "completion_mask"}
    assert tokens <= set(a) and tokens <= set(b)
    for key in tokens:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    assert a["input_ids"].shape[1] == 64  # truncation acted


def test_a_wrong_reference_stops_the_stage_at_step_0(tiny, tmp_path):
    """The invariant that would have caught issue 23's reference of zeros: at step 0 the
    reference must be the policy, or the stage stops with one line naming the numbers."""
    from spin.train.invariants import InvariantError

    cfg = TrainingConfig(
        beta=BETA, per_device_train_batch_size=4, max_length=128, max_prompt_length=64
    )
    tokenizer = AutoTokenizer.from_pretrained(tiny["model"])
    model = AutoModelForCausalLM.from_pretrained(tiny["model"])
    trainer = build_spin_trainer(
        model, tokenizer, load_from_disk(str(tiny["data"])), cfg, tmp_path, seed=0, dtype="float32"
    )
    right = reference_table(trainer, ROLES["pairs"])
    batch = trainer._prepare_inputs(
        trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    )
    # 4 nats off on the generated responses only, as rank 1's zeros gave (+4 to +7 on y′)
    trainer.reference_logps = right + torch.tensor([0.0, 4.0])
    with pytest.raises(InvariantError, match=r"at step 0 the policy is the reference.*4 nats"):
        trainer.compute_loss(trainer.model, batch)
    trainer.reference_logps = right
    assert trainer.compute_loss(trainer.model, batch).item() == pytest.approx(math.log(2), abs=1e-5)
