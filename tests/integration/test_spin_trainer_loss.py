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
from spin.train.dataset import build_dataset
from spin.train.spin_trainer import build_spin_trainer, dpo_config
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
    rows = load_from_disk(str(tiny["data"])).select(range(4)).to_list()
    batch = trainer._prepare_inputs(
        trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    )
    ref_real, ref_generated = (
        hand_logps(model, tokenizer, rows, "chosen"),
        hand_logps(model, tokenizer, rows, "rejected"),
    )
    torch.testing.assert_close(batch["ref_chosen_logps"], ref_real, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(batch["ref_rejected_logps"], ref_generated, rtol=1e-5, atol=1e-4)

    # Step 0: policy = reference, Δ = 0, so sigmoid gives log 2 and hinge gives 1.
    at_start = trainer.compute_loss(trainer.model, batch).item()
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
    loss = trainer.compute_loss(trainer.model, batch)
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-5, atol=1e-5)
    assert abs(loss.item() - at_start) > 1e-3


# Δ at step 0 (policy = reference), per sequence, in nats of a summed log-prob: fp32 differs
# only by the padding and batch composition of the sorted pass against the training batches;
# bf16 autocast rounds each matmul to 8 mantissa bits, so the same differences grow.
STEP0_TOLERANCE = {"float32": 1e-4, "bfloat16": 0.25}  # both measured 0.0 here


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
    args = dpo_config(cfg, tmp_path, 0, dtype)
    assert args.precompute_ref_batch_size == 8  # larger than training's
    trainer = build_spin_trainer(
        model,
        tokenizer,
        load_from_disk(str(tiny["data"])),
        cfg,
        tmp_path,
        seed=0,
        dtype=dtype,
        args=args,
    )
    worst = 0.0
    for batch in trainer.get_train_dataloader():  # shuffled training batches of 2
        batch = trainer._prepare_inputs(batch)
        policy = trainer.compute_ref_log_probs(trainer.model, batch)  # the policy, θ = θt
        for lp, key in zip(policy, ("ref_chosen_logps", "ref_rejected_logps"), strict=True):
            worst = max(worst, (lp.float() - batch[key].float()).abs().max().item())
    print(f"max |Δ logp| at step 0, {dtype}: {worst:.2e}")
    assert worst <= STEP0_TOLERANCE[dtype]


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
    assert set(a) == set(b)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    assert a["input_ids"].shape[1] == 64  # truncation acted
