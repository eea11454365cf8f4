"""spin plan's memory estimate: the formula by hand, the fixes it proposes, the output."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from spin.cli import main as spin
from spin.memory import (
    GIB,
    GPU_MEMORY,
    MISTRAL_7B,
    Strategy,
    TrainingShape,
    activation_bytes_per_token_layer,
    generation_memory,
    smallest_fix,
    strategy_from_accelerate,
    training_memory,
)

ROOT = Path(__file__).resolve().parents[2]
PAPER = TrainingShape(8, 2, 1024, True, "rmsprop", "bfloat16")  # the SPIN recipe per GPU


def test_mistral_7b_has_its_published_parameter_count():
    assert MISTRAL_7B.n_params == 7_241_732_096  # Mistral-7B-v0.1's safetensors total
    assert MISTRAL_7B.kv_dim == 1024


def test_activation_bytes_by_hand():
    # bf16: 8·4096 + 2·(11·4096 + 2·1024 + 4·14336) = 32,768 + 2·104,448 = 241,664
    assert activation_bytes_per_token_layer(MISTRAL_7B, 2) == 241_664


def test_zero3_on_8_gpus_by_hand():
    p = MISTRAL_7B.n_params
    est = training_memory(MISTRAL_7B, PAPER, Strategy("zero3", 8), GPU_MEMORY["a100-40gb"])
    c = est.components
    # bf16 weights and gradients, fp32 master and RMSProp's square_avg: 2+2+4+4 bytes / 8
    assert c["weights"] + c["gradients"] == pytest.approx(4 * p / 8)
    assert c["master weights (fp32)"] + c["optimizer state"] == pytest.approx(8 * p / 8)
    tokens = 8 * 2 * 1024
    # checkpointing: every layer's bf16 input plus one layer recomputed
    assert c["activations"] == tokens * (32 * 2 * 4096 + 241_664)
    assert c["logits"] == tokens * 32000 * 6  # bf16 logits, gradient, TRL's log-softmax
    assert est.fits and 20 * GIB < est.total < 30 * GIB
    assert est.host_per_rank == 2 * p / 8  # zero.Init partitions as it loads


def test_adamw_doubles_the_optimizer_state():
    rms = training_memory(MISTRAL_7B, PAPER, Strategy("zero3", 8), 1e12)
    adam = training_memory(
        MISTRAL_7B,
        TrainingShape(8, 2, 1024, True, "adamw_torch", "bfloat16"),
        Strategy("zero3", 8),
        1e12,
    )
    assert adam.components["optimizer state"] == 2 * rms.components["optimizer state"]


def test_the_smallest_fix_is_found_in_order_of_cost():
    p = MISTRAL_7B.n_params
    no_gc = TrainingShape(8, 2, 1024, False, "rmsprop", "bfloat16")
    cap = GPU_MEMORY["a100-80gb"]
    assert not training_memory(MISTRAL_7B, no_gc, Strategy("zero3", 8), cap).fits
    label, est = smallest_fix(MISTRAL_7B, no_gc, Strategy("zero3", 8), cap)
    assert label.startswith("turn on gradient checkpointing") and est.fits
    # one GPU: fp32 master weights, gradients and RMSProp state, 12 bytes/param
    one = training_memory(MISTRAL_7B, PAPER, Strategy("single", 1), 1e12)
    assert one.components["weights"] + one.components["optimizer state"] == 8 * p
    assert one.host_per_rank == 4 * p
    # one 40 GB GPU: whole copies do not fit at any batch size; offloading does
    label, est = smallest_fix(MISTRAL_7B, PAPER, Strategy("single", 1), GPU_MEMORY["a100-40gb"])
    assert "offloaded to CPU" in label and est.fits
    # DDP on 8: shard with ZeRO-3 before offloading anything
    label, _ = smallest_fix(MISTRAL_7B, PAPER, Strategy("ddp", 8), GPU_MEMORY["a100-40gb"])
    assert label.startswith("shard with ZeRO-3")


def test_vllm_kv_cache_is_what_the_utilisation_leaves():
    cap = GPU_MEMORY["a100-40gb"]
    est = generation_memory(
        MISTRAL_7B,
        backend="vllm",
        batch_size=8,
        prompt_tokens=512,
        new_tokens=256,
        dtype="bfloat16",
        capacity=cap,
        gpu_memory_utilization=0.9,
    )
    c = est.components
    assert c["weights"] + c["activations (profiling pass)"] + c["KV cache"] == pytest.approx(
        0.9 * cap
    )
    assert est.fits and "concurrent sequences" in est.notes[0]


@pytest.mark.parametrize(
    "name", sorted(p.name for p in (ROOT / "replication/accelerate").glob("*.yaml"))
)
def test_every_shipped_accelerate_config_has_a_strategy(name):
    config = yaml.safe_load((ROOT / "replication/accelerate" / name).read_text())
    strategy = strategy_from_accelerate(config, 8)
    assert strategy.kind in ("zero3", "fsdp", "ddp", "single")
    if "zero3" in name:
        assert strategy.kind == "zero3" and not strategy.offload_optimizer


def test_plan_says_what_fits_on_8_a100_40gb(capsys):
    argv = ["plan", str(ROOT / "replication/spin-zephyr-7b.yaml"), "--gpu", "a100-40gb"]
    assert spin(argv + ["--n-gpus", "8"]) == 0
    out = capsys.readouterr().out
    assert "memory per GPU on 8x a100-40gb (40.0 GiB each)" in out
    assert "zero3 over 8 GPU(s)" in out and "host memory per rank" in out
    assert out.count(": fits") == 2  # generation and training
    assert "with gradient checkpointing off" in out and "(does not fit)" in out
    # without checkpointing it does not fit, and the plan says what to change
    assert spin(argv + ["--n-gpus", "8", "--set", "training.gradient_checkpointing=false"]) == 0
    out = capsys.readouterr().out
    assert (
        "DOES NOT FIT" in out and "smallest change that fits: turn on gradient checkpointing" in out
    )
