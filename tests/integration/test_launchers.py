"""Launcher equivalence, torchtune's way: every launcher computes what one process computes.

For SFT, SPIN, T-SPIN and T-SPIN_ref on the same micro data and seed, `spin train` runs
  - in one process (the reference numbers),
  - under 2-process DDP (replication/accelerate/cpu-2proc.yaml),
  - under 2-process FSDP2 (fsdp2-cpu-2proc.yaml),
  - under 2-process DeepSpeed ZeRO-3 (zero3-cpu-2proc.yaml),
in float32, and the sharded two again in bf16 for the methods with a reference. Each
launcher must give
  - the reference log-probs of the single process at step 0, equal to the policy's own
    (the stage checks that itself: spin.train.invariants; here against the single process),
  - SPIN's first loss = log 2 (T-SPIN_ref's: (1 + β)·log 2),
  - the first 3 losses, and the weights after 3 steps, of the single process.
Every step holds all 8 examples (see launcher_runs.config), so the launchers see the same
batches; plain SGD, so weights differ only as much as gradients do.

Tolerances, and why (float32): the launchers add only reduction-order differences (gloo's
all-reduce of two half-batch gradients against one full-batch backward, ZeRO-3's
reduce-scatter, sharded matmuls), ~1e-7 relative each. Measured here: losses agree to
<1e-6, weights to <1e-6 after 3 steps. Allowed: 1e-5 on losses (a loss of 0.69), 1e-5 on
weights, 1e-4 nats on a summed log-prob (spin.train.invariants.TOLERANCE's float32 floor).
bf16: the reference equals the policy within the stage's own bf16 tolerance, and the
first loss is the loss at Δ = 0 within β times that (its slope).

This is the test that catches a reference of zeros: under FSDP2 on main abce9cc, the
reference was 4-7 nats away from the policy at step 0.
"""

from __future__ import annotations

import functools
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from spin.train.invariants import TOLERANCE
from tests.integration.launcher_runs import DATA

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "replication" / "accelerate"
pytestmark = pytest.mark.slow

METHODS = ("sft", "spin", "tspin", "tspin_ref")
WITH_REFERENCE = ("spin", "tspin_ref")
BETA = 0.1
# name -> (accelerate config or None, mixed precision, dtype, per-device batch, methods)
LAUNCHES = {
    "single": (None, None, "float32", 8, METHODS),
    "ddp": ("cpu-2proc.yaml", "no", "float32", 4, METHODS),
    "fsdp2": ("fsdp2-cpu-2proc.yaml", "no", "float32", 4, METHODS),
    "zero3": ("zero3-cpu-2proc.yaml", "no", "float32", 4, METHODS),
    "fsdp2-bf16": ("fsdp2-cpu-2proc.yaml", "bf16", "bfloat16", 4, WITH_REFERENCE),
    "zero3-bf16": ("zero3-cpu-2proc.yaml", "bf16", "bfloat16", 4, WITH_REFERENCE),
}
LOSS_TOL = 1e-5
WEIGHT_TOL = 1e-5
LOGP_TOL = TOLERANCE["float32"][0]
FIRST_LOSS = {"spin": math.log(2), "tspin_ref": (1 + BETA) * math.log(2)}


@pytest.fixture(scope="module")
def assets(tmp_path_factory, tiny_model_dir, tiny_items) -> Path:
    """The session's tiny model and 8 examples of each kind of data."""
    from datasets import Dataset
    from transformers import AutoTokenizer

    from spin.train.dataset import build_dataset

    root = tmp_path_factory.mktemp("launchers")
    (root / "model").symlink_to(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    items = tiny_items[:8]
    records = [
        {
            "prompt": it["prompt"],
            "real": it["answer"],
            # y′ and y₀ of other lengths than y, so rows pad differently per batch
            "generated": items[(i + 3) % 8]["answer"] + " x" * (i % 3),
            "proto": "no" + " y" * (i % 2),
        }
        for i, it in enumerate(items)
    ]
    for kind in ("pairs", "triplets"):
        roles = ("prompt", "real", "generated") + (("proto",) if kind == "triplets" else ())
        build_dataset(
            [{k: r[k] for k in roles} for r in records],
            tokenizer,
            kind=kind,
            prompt_format="chat",
            max_prompt_length=48,
            out_dir=root / kind,
        )
    Dataset.from_list(
        [{"prompt": it["prompt"], "completion": it["answer"]} for it in items]
    ).save_to_disk(str(root / "sft"))
    assert set(DATA.values()) == {"sft", "pairs", "triplets"}
    return root


@pytest.fixture(scope="module")
def run(assets, tmp_path_factory):
    """run(name) -> OUT: the launch's outputs, launched once per module on first use."""

    @functools.cache
    def launch(name: str) -> Path:
        config, mixed, dtype, batch, methods = LAUNCHES[name]
        out = tmp_path_factory.mktemp(f"launch-{name}")
        worker = ["-m", "tests.integration.launcher_runs"]
        args = [str(assets), str(out), dtype, str(batch), ",".join(methods)]
        if config is None:
            cmd = [sys.executable, *worker, *args]
        else:
            cmd = [
                *(sys.executable, "-m", "accelerate.commands.launch"),
                *("--config_file", str(CONFIGS / config), "--mixed_precision", mixed),
                *worker,
                *args,
            ]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, cwd=ROOT, env=env)
        assert res.returncode == 0, f"{name}:\n{res.stderr[-5000:]}"
        return out

    return launch


def _result(out: Path, method: str) -> dict:
    return json.loads((out / method / "train_result.json").read_text())


def _losses(result: dict) -> list[float]:
    return [h["loss"] for h in result["log_history"] if "loss" in h]


def _reference(out: Path, method: str) -> torch.Tensor:
    return torch.load(out / method / "checkpoints" / "reference_logps.pt")["logps"]


def _weights(out: Path, method: str, model: str = "model") -> dict[str, torch.Tensor]:
    """The saved weights. The tiny model ties lm_head to the embeddings; FSDP2's full state
    dict writes the tied copy out as well (equal, checked), so it is dropped here."""
    from safetensors.torch import load_file

    weights = load_file(str(out / method / model / "model.safetensors"))
    tied = weights.pop("lm_head.weight", None)
    if tied is not None:
        assert torch.equal(tied, weights["model.embed_tokens.weight"])
    return weights


SHARDED = {
    "single": ("NO", 1),
    "ddp": ("MULTI_CPU", 2),
    "fsdp2": ("FSDP", 2),
    "zero3": ("DEEPSPEED", 2),
}


@pytest.mark.parametrize("launcher", ["ddp", "fsdp2", "zero3"])
@pytest.mark.parametrize("method", METHODS)
def test_launcher_trains_as_one_process_does(run, launcher, method, tiny_model_dir):
    single, other = _result(run("single"), method), _result(run(launcher), method)
    sharding = other["sharding"]
    assert (sharding["distributed_type"], sharding["num_processes"]) == SHARDED[launcher]
    if launcher == "fsdp2":  # every parameter a sharded DTensor
        assert sharding["fsdp2"] and sharding["dtensor_params"] == sharding["params"] > 0
    if launcher == "zero3":  # built partitioned by zero.Init, trained partitioned
        assert sharding["zero_stage"] == 3
        assert sharding["zero3_partitioned_at_load"] == sharding["params"] > 0
        assert sharding["zero3_partitioned_params"] == sharding["params"]

    if method in WITH_REFERENCE:
        ours, theirs = _reference(run("single"), method), _reference(run(launcher), method)
        torch.testing.assert_close(theirs, ours, rtol=0, atol=LOGP_TOL)
        for result in (single, other):  # the stage's own check: Δ at step 0
            assert result["invariants"]["step0_max_abs_delta"] <= LOGP_TOL
        assert _losses(other)[0] == pytest.approx(FIRST_LOSS[method], abs=LOSS_TOL)

    a, b = _losses(single), _losses(other)
    assert len(a) == len(b) == 3
    print(f"{launcher} {method}: losses {b} against {a}")
    assert b == pytest.approx(a, abs=LOSS_TOL)
    assert len(set(a)) > 1, "the losses move: the comparison is of training, not of step 0"

    wa, wb = _weights(run("single"), method), _weights(run(launcher), method)
    assert wa.keys() == wb.keys()
    worst = max((wa[k].float() - wb[k].float()).abs().max().item() for k in wa)
    start = _weights(Path(tiny_model_dir).parent, Path(tiny_model_dir).name, model="")
    moved = max((wa[k].float() - start[k].float()).abs().max().item() for k in wa)
    print(f"{launcher} {method}: weights differ by {worst:.2e}; training moved them {moved:.2e}")
    assert worst <= WEIGHT_TOL < moved


@pytest.mark.parametrize("launcher", ["fsdp2-bf16", "zero3-bf16"])
@pytest.mark.parametrize("method", WITH_REFERENCE)
def test_step_0_holds_in_bf16(run, launcher, method):
    """bf16 under the sharded launchers: the reference is the policy at step 0 within the
    bf16 tolerance, and so the first loss is the loss at Δ = 0."""
    result = _result(run(launcher), method)
    assert result["sharding"]["mixed_precision"] == "bf16"
    inv = result["invariants"]
    if method == "spin":  # TRL sums the per-token log-probs as the forward returns them
        assert inv["summed_dtype"] == "float32"
    absolute, per_token = TOLERANCE["mixed"]
    assert inv["step0_tolerance"] == {"abs": absolute, "per_token": per_token}
    print(f"{launcher} {method}: step-0 max |Δ| {inv['step0_max_abs_delta']:.3g} nats")
    # the responses here are under 20 tokens: the stage allowed at most this much
    assert inv["step0_max_abs_delta"] <= absolute + 20 * per_token
    first = _losses(result)[0]
    slope = BETA if method == "spin" else 2 * (1 + BETA)
    assert first == pytest.approx(FIRST_LOSS[method], abs=slope * inv["step0_max_abs_delta"] + 1e-5)
    # the bf16 reference is the fp32 one to within bf16's rounding of the weights
    fp32 = _reference(run("single"), method)
    assert (_reference(run(launcher), method) - fp32).abs().max() < 1.0
