"""The T-SPIN triplet trainer on a tiny Mistral: its loss equals spin.losses.tspin_loss (and
tspin_ref_loss) on independently computed log-probs, it trains, and it loads no reference."""

from __future__ import annotations

import json

import pytest
import torch
from datasets import load_from_disk
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from spin.config import TrainingConfig
from spin.losses import tspin_loss, tspin_ref_loss
from spin.tiny.tasks import make_items
from spin.train.dataset import ROLES, SequenceCollator, build_dataset
from spin.train.reference import reference_table
from spin.train.triplet import build_triplet_trainer, train_tspin
from tests.integration.hand_logps import hand_logps

N = 12


def records() -> list[dict]:
    # y the right answer, y′ and y₀ wrong ones of different lengths (so batches need padding).
    items = make_items(N, seed=3)
    return [
        {
            "prompt": it["prompt"],
            "real": it["answer"],
            "generated": items[(i + 1) % N]["answer"] + " ok",
            "proto": "no " * (1 + i % 3),
        }
        for i, it in enumerate(items)
    ]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("triplet")
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    build_dataset(
        records(),
        tokenizer,
        kind="triplets",
        prompt_format="chat",
        max_prompt_length=64,
        out_dir=root / "data",
    )
    return {"model": tiny_model_dir, "data": root / "data", "tokenizer": tokenizer, "root": root}


def config(**overrides) -> TrainingConfig:
    base = dict(
        learning_rate=5e-4,
        per_device_train_batch_size=4,
        num_train_epochs=1,
        max_length=128,
        max_prompt_length=64,
        warmup_ratio=0.0,
        logging_steps=1,
        save_steps=1000,
        alpha=1.0,
        beta=0.1,
        layout="clean",  # hand_logps tokenises as the clean layout does
    )
    return TrainingConfig(**{**base, **overrides})


def count_model_loads(monkeypatch) -> list[tuple]:
    """Record the positional arguments of every PreTrainedModel.from_pretrained from now on."""
    loads: list[tuple] = []
    original = PreTrainedModel.from_pretrained.__func__
    monkeypatch.setattr(
        PreTrainedModel,
        "from_pretrained",
        classmethod(lambda cls, *a, **k: loads.append(a) or original(cls, *a, **k)),
    )
    return loads


def perturb(model, scale: float = 0.05, seed: int = 1) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen))


def load(tiny):
    model = AutoModelForCausalLM.from_pretrained(tiny["model"])
    return model, AutoTokenizer.from_pretrained(tiny["model"])


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_loss_equals_tspin_loss_in_one_forward(tiny, tmp_path, reduction):
    model, tokenizer = load(tiny)
    cfg = config(logp_reduction=reduction, alpha=0.7, beta=0.3)
    trainer = build_triplet_trainer(
        model, tokenizer, load_from_disk(str(tiny["data"])), cfg, tmp_path, seed=0
    )
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    rows = load_from_disk(str(tiny["data"])).select(range(4)).to_list()

    shapes = []
    hook = trainer.model.register_forward_hook(
        lambda m, args, kwargs, out: shapes.append(kwargs["input_ids"].shape), with_kwargs=True
    )
    loss = trainer.compute_loss(trainer.model, batch)
    hook.remove()
    # (prompt, y), (prompt, y′), (prompt, y₀) of all 4 examples went through one forward pass.
    assert len(shapes) == 1 and shapes[0][0] == 12

    real, generated, proto = (
        hand_logps(model, tokenizer, rows, c, reduction) for c in ("chosen", "rejected", "proto")
    )
    expected = tspin_loss(real, generated, proto, alpha=0.7, beta=0.3).mean()
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-5, atol=1e-5)
    assert loss.requires_grad
    # The logged metrics are the same log-probs: rewards α·logp, and no mismatch possible.
    metrics = trainer._metrics
    assert metrics["logps/real"][0] == pytest.approx(real.mean().item(), abs=1e-4)
    assert metrics["rewards/generated"][0] == pytest.approx(0.7 * generated.mean().item(), abs=1e-4)
    assert metrics["mismatch_share"][0] == 0.0


@pytest.mark.parametrize("reference", [False, True])
def test_beta_zero_skips_proto_with_the_same_loss_and_gradients(tiny, tmp_path, reference):
    """β = 0: only the y and y′ rows are run, and loss and gradients equal those of the full
    [y; y′; y₀] forward with the β = 0 loss."""
    from spin.train.reference import sequence_logps

    model, tokenizer = load(tiny)
    cfg = config(alpha=0.7, beta=0.0)
    trainer = build_triplet_trainer(
        model,
        tokenizer,
        load_from_disk(str(tiny["data"])),
        cfg,
        tmp_path,
        seed=0,
        reference=reference,
    )
    if reference:
        trainer.reference_logps = reference_table(trainer, trainer._roles())
        assert trainer.reference_logps.shape == (N, 2)  # y and y′ only
    perturb(trainer.model)  # away from θt, so the reference form has non-zero gradients
    trainer.state.global_step = 1  # past step 0, where the policy must be the reference
    examples = [trainer.train_dataset[i] for i in range(4)]
    batch = trainer.data_collator(examples)
    # The collator builds no y₀ rows at all: 4 examples give 8 rows, as a pair batch.
    assert batch["input_ids"].shape[0] == 8
    full_batch = SequenceCollator(tokenizer.pad_token_id, ROLES["triplets"])(examples)

    shapes = []
    hook = trainer.model.register_forward_hook(
        lambda m, args, kwargs, out: shapes.append(kwargs["input_ids"].shape), with_kwargs=True
    )
    loss = trainer.compute_loss(trainer.model, batch)
    hook.remove()
    assert [s[0] for s in shapes] == [8]  # y and y′ of 4 examples; no y₀
    # Padded to the longer of y and y′ only, never to y₀'s length.
    assert shapes[0][1] <= full_batch["input_ids"].shape[1]
    loss.backward()
    skipped = {n: p.grad.clone() for n, p in trainer.model.named_parameters()}
    trainer.model.zero_grad()

    full = sequence_logps(trainer.model, full_batch, "sum")
    real, generated, proto = full.chunk(3)
    if reference:
        ref = trainer.reference_logps[batch["example_index"]]
        real, generated = real - ref[:, 0], generated - ref[:, 1]
    expected = tspin_loss(real, generated, proto, alpha=0.7, beta=0.0).mean()
    expected.backward()
    torch.testing.assert_close(loss.detach(), expected.detach(), rtol=1e-5, atol=1e-6)
    for name, p in trainer.model.named_parameters():
        torch.testing.assert_close(skipped[name], p.grad, rtol=1e-4, atol=1e-6, msg=name)
    assert any(g.abs().sum() > 0 for g in skipped.values())
    assert "logps/proto" not in trainer._metrics and "loss/historical" not in trainer._metrics


def test_reference_loss_equals_tspin_ref_loss(tiny, tmp_path, monkeypatch):
    model, tokenizer = load(tiny)
    rows = load_from_disk(str(tiny["data"])).to_list()
    ref = {c: hand_logps(model, tokenizer, rows, c) for c in ("chosen", "rejected", "proto")}

    loads = count_model_loads(monkeypatch)
    cfg = config(alpha=0.5, beta=0.2)
    trainer = build_triplet_trainer(
        model, tokenizer, load_from_disk(str(tiny["data"])), cfg, tmp_path, seed=0, reference=True
    )
    assert trainer.reference_logps is None  # not in __init__: the Trainer has not placed it
    trainer.reference_logps = reference_table(trainer, trainer._roles())  # as on_train_begin
    assert loads == []  # the reference log-probs came from the policy's own starting weights

    # The reference table, in dataset order, equals θt's log-probs.
    for i, column in enumerate(("chosen", "rejected", "proto")):
        torch.testing.assert_close(trainer.reference_logps[:, i], ref[column], rtol=1e-5, atol=1e-4)

    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    at_start = trainer.compute_loss(trainer.model, batch).item()
    assert at_start == pytest.approx(1.2 * torch.log(torch.tensor(2.0)).item(), abs=1e-5)  # θ = θt

    perturb(trainer.model)
    trainer.state.global_step = 1  # past step 0, where the policy must be the reference
    loss = trainer.compute_loss(trainer.model, batch)
    policy = {c: hand_logps(model, tokenizer, rows[:4], c) for c in ("chosen", "rejected", "proto")}
    expected = tspin_ref_loss(
        policy["chosen"],
        policy["rejected"],
        policy["proto"],
        ref["chosen"][:4],
        ref["rejected"][:4],
        ref["proto"][:4],
        alpha=0.5,
        beta=0.2,
    ).mean()
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-5, atol=1e-4)
    assert abs(loss.item() - at_start) > 1e-3
    # A second pass (a resumed run, whose weights are no longer θt) reads θt's from the cache.
    cached = reference_table(trainer, trainer._roles())
    torch.testing.assert_close(cached, trainer.reference_logps)


def test_training_raises_the_margin_without_a_reference_model(tiny, tmp_path, monkeypatch):
    rows = load_from_disk(str(tiny["data"])).to_list()
    model, tokenizer = load(tiny)

    def dataset_loss(m):
        real, generated, proto = (
            hand_logps(m, tokenizer, rows, c) for c in ("chosen", "rejected", "proto")
        )
        margin = real - generated
        # eq. 7 over the whole set, its current-advantage term, and the worst
        # real-vs-generated margin
        return (
            tspin_loss(real, generated, proto).mean().item(),
            tspin_loss(real, generated, proto, beta=0.0).mean().item(),
            margin.min().item(),
        )

    loss_before, current_before, margin_before = dataset_loss(model)

    loads = count_model_loads(monkeypatch)
    # RMSProp's first steps are ~10× lr per weight, so a small lr keeps 3 steps monotone.
    result = train_tspin(
        str(tiny["model"]), tiny["data"], tmp_path / "out", config(learning_rate=1e-4), seed=0
    )
    monkeypatch.undo()
    assert len(loads) == 1  # the policy; T-SPIN is reference-free

    trained = AutoModelForCausalLM.from_pretrained(tmp_path / "out" / "model")
    loss_after, current_after, margin_after = dataset_loss(trained)
    assert loss_after < loss_before
    assert current_after < current_before
    assert margin_after > margin_before

    steps = [h for h in result["log_history"] if "loss" in h]
    assert len(steps) == N // 4  # one epoch, logging every step
    for key in (
        "rewards/real",
        "rewards/generated",
        "rewards/proto",
        "logps/proto",
        "mismatch_share",
    ):
        assert key in steps[0]
    assert not list(
        (tmp_path / "out" / "checkpoints").glob("checkpoint-*")
    )  # cleaned up on success
    assert (
        json.loads((tmp_path / "out" / "model" / "config.json").read_text())["model_type"]
        == "mistral"
    )


def test_bfloat16_keeps_the_updates_at_the_paper_learning_rate(tiny, tmp_path, monkeypatch):
    """model.dtype bfloat16 in process: fp32 weights under bf16 autocast, so a step at lr 5e-7
    (far below bf16's resolution) still changes nearly every parameter."""
    from safetensors.torch import load_file

    dtypes = []
    original = PreTrainedModel.from_pretrained.__func__
    monkeypatch.setattr(
        PreTrainedModel,
        "from_pretrained",
        classmethod(lambda cls, *a, **k: dtypes.append(k.get("dtype")) or original(cls, *a, **k)),
    )
    result = train_tspin(
        str(tiny["model"]),
        tiny["data"],
        tmp_path / "out",
        config(learning_rate=5e-7),
        seed=0,
        dtype="bfloat16",
    )
    monkeypatch.undo()
    assert dtypes == [torch.float32]
    assert [h for h in result["log_history"] if "loss" in h]
    before = load_file(str(tiny["model"] / "model.safetensors"))
    after = load_file(str(tmp_path / "out" / "model" / "model.safetensors"))
    total = sum(t.numel() for t in before.values())
    changed = sum(int((after[k].float() != t.float()).sum()) for k, t in before.items())
    assert after[next(iter(after))].dtype == torch.float32
    assert changed > 0.99 * total, f"{changed} of {total} parameters changed"
