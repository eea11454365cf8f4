"""A prepared check of one CUDA GPU, offline, in at most 8 minutes (scripts/gpu_check.sh).

Each check runs in its own process, so a CUDA error, an out-of-memory or a hung vLLM engine
in one cannot spoil the others, and each process's peak memory is its own:
- vllm_vs_hf: greedy generation with CUDA vLLM and with HF generate on a micro Mistral
  with the real Mistral-7B tokenizer, as a tokens/s ratio (engine start-up excluded);
- bf16_master_step: one SPIN step of the real trainer with model.dtype bfloat16, which
  must keep fp32 master weights: the share of weights a 5e-7 step changes;
- fsdp2_one_process: the same step under `accelerate launch` with the FSDP2 config on one
  process;
- zero3_one_process: the same step under `accelerate launch` with the paper's DeepSpeed
  ZeRO-3 config (zero3-8gpu.yaml) on one process: the stage's step-0 invariants (the
  reference is the policy, SPIN's first loss is log 2) and the ZeRO stage it ran under;
- tspin_ref_prepass: T-SPIN_ref's reference pass and first step: the rewards at step 0,
  when policy = reference, must be 0 within bf16's tolerance;
- peak_memory_vs_plan: a bf16-autocast step's torch.cuda.max_memory_allocated beside
  spin.memory's estimate for the same sizes.

Prints one JSON object and writes it to --output (default reports/gpu_check.json).
Without CUDA it refuses in one line, exit code 3, before building anything.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "reports" / "gpu_check.json"
NO_CUDA_EXIT = 3
# Seconds per check; their sum stays under the 8-minute promise (vLLM's start-up dominates).
BUDGETS = {
    "vllm_vs_hf": 180,
    "bf16_master_step": 45,
    "fsdp2_one_process": 75,
    "zero3_one_process": 90,
    "tspin_ref_prepass": 45,
    "peak_memory_vs_plan": 45,
}
# The micro model: the recipe's architecture family (Mistral, GQA, head_dim 64) and the real
# tokenizer's 32,000-token vocabulary, small enough to build and run in seconds.
MICRO = {
    "hidden_size": 256,
    "num_layers": 2,
    "num_heads": 4,
    "num_kv_heads": 2,
    "intermediate_size": 768,
}
BF16_RELATIVE_TOLERANCE = 2**-8  # bf16 keeps 8 significant bits


def build_micro_model(out: Path) -> Path:
    """A random micro Mistral with the real tokenizer, saved as an HF checkpoint (CPU)."""
    import torch
    from transformers import AutoTokenizer, MistralConfig, MistralForCausalLM

    from spin.tokenizer import mistral_tokenizer_dir  # the real Mistral-7B tokenizer (H11a)

    tokenizer = AutoTokenizer.from_pretrained(str(mistral_tokenizer_dir("zephyr")))
    torch.manual_seed(0)
    config = MistralConfig(
        vocab_size=len(tokenizer),
        hidden_size=MICRO["hidden_size"],
        num_hidden_layers=MICRO["num_layers"],
        num_attention_heads=MICRO["num_heads"],
        num_key_value_heads=MICRO["num_kv_heads"],
        intermediate_size=MICRO["intermediate_size"],
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    MistralForCausalLM(config).save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out


def _prompts(n: int = 64) -> list[dict]:
    topics = ["rivers", "prime numbers", "bread", "tides", "chess", "glaciers", "owls", "jazz"]
    return [
        {
            "idx": i,
            "prompt": f"Write a short note about {topics[i % len(topics)]} ({i}).",
            "real": f"A note about {topics[i % len(topics)]}.",
            "generated": f"Something about item {i}.",
            "proto": f"An early answer {i}.",
        }
        for i in range(n)
    ]


# ---------------------------------------------------------------- the checks (child side)


def check_vllm_vs_hf(model: Path, work: Path) -> dict:
    from transformers import AutoTokenizer

    from spin.config import GenerationConfig
    from spin.prompts import format_prompt

    tokenizer = AutoTokenizer.from_pretrained(str(model))
    texts = [format_prompt(tokenizer, r["prompt"], "alpaca") for r in _prompts()]
    seeds = list(range(len(texts)))
    cfg = GenerationConfig(
        backend="vllm", max_new_tokens=64, batch_size=64, gpu_memory_utilization=0.3
    )
    from spin.generate.vllm_backend import VLLMBackend  # first: before HF touches CUDA

    engine = VLLMBackend(str(model), cfg, dtype="bfloat16")
    start = time.perf_counter()
    by_vllm = engine.generate(texts, seeds)
    vllm_s = time.perf_counter() - start
    engine.close()  # its memory back before HF and the training checks
    from spin.generate.hf_backend import HFBackend

    hf = HFBackend(str(model), GenerationConfig(max_new_tokens=64, batch_size=64), dtype="bfloat16")
    start = time.perf_counter()
    by_hf = hf.generate(texts, seeds)
    hf_s = time.perf_counter() - start

    def tokens(outputs):
        return sum(len(tokenizer(o, add_special_tokens=False)["input_ids"]) for o in outputs)

    v, h = tokens(by_vllm) / vllm_s, tokens(by_hf) / hf_s
    return {
        "prompts": len(texts),
        "max_new_tokens": 64,
        "vllm_startup_s": round(engine.startup_s, 1),
        "vllm_tokens_per_s": round(v, 1),
        "hf_tokens_per_s": round(h, 1),
        "vllm_over_hf": round(v / h, 2),
        "greedy_identical": sum(a == b for a, b in zip(by_vllm, by_hf, strict=True)),
    }


def _dataset(model: Path, work: Path, kind: str) -> Path:
    from transformers import AutoTokenizer

    from spin.train.dataset import build_dataset

    out = work / f"dataset-{kind}"
    if not out.exists():
        tokenizer = AutoTokenizer.from_pretrained(str(model))
        build_dataset(
            _prompts(16),
            tokenizer,
            kind=kind,
            prompt_format="chat",
            max_prompt_length=64,
            out_dir=out,
        )
    return out


def _training(**overrides):
    from spin.config import TrainingConfig

    base = dict(
        learning_rate=5e-7,
        per_device_train_batch_size=4,
        max_steps=1,
        warmup_ratio=0.0,
        logging_steps=1,
        save_steps=1000,
        max_length=128,
        max_prompt_length=64,
    )
    return TrainingConfig(**{**base, **overrides})


def _changed_share(before: Path, after: Path) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    a = AutoModelForCausalLM.from_pretrained(str(before), dtype=torch.float32).state_dict()
    b = AutoModelForCausalLM.from_pretrained(str(after), dtype=torch.float32).state_dict()
    total = sum(t.numel() for t in a.values())
    changed = sum(int((a[k] != b[k]).sum()) for k in a)
    return {
        "weights_changed": changed,
        "weights": total,
        "changed_share": round(changed / total, 4),
    }


def check_bf16_master_step(model: Path, work: Path) -> dict:
    from spin.train.command import run_training

    out = work / "bf16-step"
    run_training(
        "spin",
        str(model),
        _dataset(model, work, "pairs"),
        out,
        _training(),
        seed=0,
        dtype="bfloat16",
    )
    result = _changed_share(model, out / "model")
    # pure bf16 weights would change only the few weights whose update exceeds half a bf16
    # step; fp32 master weights take nearly every update
    result["passed"] = result["changed_share"] > 0.5
    return result


def _one_process_step(model: Path, work: Path, config: str, check: str) -> dict:
    """One SPIN step through `spin train` under `accelerate launch` with `config` on one
    process, as the pipeline launches it; its train_result.json."""
    from spin.pipeline.stages import train_command

    out = work / check
    cmd = train_command(
        "spin",
        model,
        _dataset(model, work, "pairs"),
        out,
        _training(),
        0,
        "bfloat16",
        str(ROOT / "replication/accelerate" / config),
    )
    i = cmd.index("--config_file") + 2
    cmd[i:i] = ["--num_processes", "1"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=BUDGETS[check] - 5)
    if res.returncode != 0:
        raise RuntimeError(f"accelerate launch exited {res.returncode}: {res.stderr[-600:]}")
    result = json.loads((out / "train_result.json").read_text())
    result["losses"] = [e["loss"] for e in result["log_history"] if "loss" in e]
    result["model"] = out / "model"
    return result


def check_fsdp2_one_process(model: Path, work: Path) -> dict:
    result = _one_process_step(model, work, "fsdp2-8gpu.yaml", "fsdp2_one_process")
    losses = result["losses"]
    return {**_changed_share(model, result["model"]), "losses": losses, "passed": bool(losses)}


def check_zero3_one_process(model: Path, work: Path) -> dict:
    """The step under the paper's DeepSpeed ZeRO-3 config. The stage itself stops on a
    step-0 violation (spin.train.invariants); this reports its numbers."""
    import math

    result = _one_process_step(model, work, "zero3-8gpu.yaml", "zero3_one_process")
    losses, sharding = result["losses"], result["sharding"]
    return {
        "zero_stage": sharding["zero_stage"],
        "partitioned_at_load": sharding["zero3_partitioned_at_load"],
        "losses": losses,
        "first_loss_minus_log2": losses[0] - math.log(2) if losses else None,
        **result["invariants"],
        "passed": sharding["zero_stage"] == 3 and bool(losses),
    }


def check_tspin_ref_prepass(model: Path, work: Path) -> dict:
    from spin.train.command import run_training

    out = work / "tspin-ref"
    start = time.perf_counter()
    result = run_training(
        "tspin_ref",
        str(model),
        _dataset(model, work, "triplets"),
        out,
        _training(),
        seed=0,
        dtype="bfloat16",
    )
    seconds = time.perf_counter() - start
    first = next(e for e in result["log_history"] if any(k.startswith("rewards/") for k in e))
    rewards = {
        k: v for k, v in first.items() if k.startswith("rewards/") and k != "rewards/accuracy"
    }
    # policy = reference at step 0, so every reward is 0 up to the bf16 autocast's rounding
    # of the two passes (summed over ~64 response tokens)
    tolerance = 64 * BF16_RELATIVE_TOLERANCE
    return {
        "step0_rewards": rewards,
        "tolerance": tolerance,
        "seconds": round(seconds, 1),
        "passed": all(abs(v) <= tolerance for v in rewards.values()),
    }


def check_peak_memory_vs_plan(model: Path, work: Path) -> dict:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    from trl.trainer.utils import selective_log_softmax

    from spin.memory import Architecture, Strategy, TrainingShape, training_memory

    config = AutoConfig.from_pretrained(str(model))
    batch, length = 4, 512
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    net = AutoModelForCausalLM.from_pretrained(str(model), dtype=torch.float32).cuda().train()
    opt = torch.optim.RMSprop(net.parameters(), lr=5e-7)
    ids = torch.randint(0, config.vocab_size, (2 * batch, length), device="cuda")
    for _ in range(2):  # the second step has the optimizer state
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = net(input_ids=ids).logits
        logps = selective_log_softmax(logits[:, :-1], ids[:, 1:]).sum(-1)
        loss = -torch.nn.functional.logsigmoid(logps[:batch] - logps[batch:]).mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        del logits, logps, loss
    measured = torch.cuda.max_memory_allocated() - base
    arch = Architecture.from_hf_config(config.to_dict())
    shape = TrainingShape(batch, 2, length, False, "rmsprop", "bfloat16")
    est = training_memory(arch, shape, Strategy("single", 1, "bf16"), capacity=1e15, reserve=0)
    ratio = est.total / measured
    return {
        "measured_bytes": measured,
        "estimated_bytes": int(est.total),
        "estimate_over_measured": round(ratio, 3),
        "components": {k: int(v) for k, v in est.components.items()},
        "passed": 0.8 <= ratio <= 1.5,
    }


CHECKS = {
    "vllm_vs_hf": check_vllm_vs_hf,
    "bf16_master_step": check_bf16_master_step,
    "fsdp2_one_process": check_fsdp2_one_process,
    "zero3_one_process": check_zero3_one_process,
    "tspin_ref_prepass": check_tspin_ref_prepass,
    "peak_memory_vs_plan": check_peak_memory_vs_plan,
}


# ---------------------------------------------------------------- the driver (parent side)


def _run_child(name: str, model: Path, work: Path) -> dict:
    """One check in its own process, within its budget; its JSON result or its failure."""
    start = time.perf_counter()
    cmd = [
        sys.executable,
        "-m",
        "spin.gpu_check",
        "--child",
        name,
        "--model",
        str(model),
        "--work",
        str(work),
    ]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=BUDGETS[name])
    except subprocess.TimeoutExpired:
        return {
            "status": "failed",
            "error": f"over its {BUDGETS[name]} s budget",
            "seconds": BUDGETS[name],
        }
    seconds = round(time.perf_counter() - start, 1)
    lines = [line for line in res.stdout.splitlines() if line.startswith("{")]
    if res.returncode != 0 or not lines:
        tail = (res.stderr.strip().splitlines() or ["no output"])[-1]
        return {"status": "failed", "error": tail[-500:], "seconds": seconds}
    result = json.loads(lines[-1])
    status = "ok" if result.pop("passed", True) else "failed"
    return {"status": status, **result, "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="gpu_check", description=__doc__.split("\n")[0])
    p.add_argument("--output", default=str(DEFAULT_OUTPUT), help="where the JSON goes")
    p.add_argument("--only", nargs="+", choices=sorted(CHECKS), help="run only these checks")
    p.add_argument("--child", choices=sorted(CHECKS), help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print(
            "gpu_check: error: no CUDA device visible (torch.cuda.is_available() is False); "
            "this check needs one GPU",
            file=sys.stderr,
        )
        return NO_CUDA_EXIT
    if args.child:  # one check, in this process
        print(json.dumps(CHECKS[args.child](Path(args.model), Path(args.work))))
        return 0
    from spin.io import write_json
    from spin.provenance import provenance

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no network: nothing may reach the Hub
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="spin-gpu-check-") as tmp:
        work = Path(tmp)
        try:
            model = build_micro_model(work / "micro-model")
        except ImportError as e:
            print(f"gpu_check: error: cannot build the micro model: {e}", file=sys.stderr)
            return 2
        names = args.only or list(CHECKS)
        checks = {name: _run_child(name, model, work) for name in names}
    props = torch.cuda.get_device_properties(0)
    payload = {
        "schema": "spin-gpu-check/1",
        "gpu": props.name,
        "gpu_memory_bytes": props.total_memory,
        "ok": all(c["status"] == "ok" for c in checks.values()),
        "seconds": round(time.perf_counter() - start, 1),
        "checks": checks,
        "provenance": provenance(),
    }
    write_json(args.output, payload)
    print(json.dumps(payload))
    return 0 if payload["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
