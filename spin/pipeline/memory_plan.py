"""`spin plan`'s memory section: peak memory per GPU of each training and generation stage
on the chosen GPUs, whether it fits, and if not the smallest change that makes it fit."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from spin.config import SFTConfig, TrainingConfig
from spin.memory import (
    GIB,
    GPU_MEMORY,
    KNOWN_ARCHITECTURES,
    Architecture,
    Estimate,
    Strategy,
    TrainingShape,
    generation_memory,
    smallest_fix,
    strategy_from_accelerate,
    training_memory,
)
from spin.pipeline.stages import SFT, Generate, Train


def architecture_for(model) -> Architecture | None:
    """The decoder shape of an experiment's model (a ModelConfig): the tiny preset's own
    settings, a local checkpoint's config.json, or a known Hub model."""
    if model.name_or_path == "tiny":
        return Architecture(
            model.hidden_size,
            model.num_hidden_layers,
            model.num_attention_heads,
            model.num_attention_heads,
            2 * model.hidden_size,
            model.vocab_size,
            tie_embeddings=True,
        )
    config = Path(model.name_or_path).expanduser() / "config.json"
    if config.exists():
        return Architecture.from_hf_config(json.loads(config.read_text()))
    return KNOWN_ARCHITECTURES.get(model.name_or_path)


def strategy_for(cfg: SFTConfig | TrainingConfig, n_gpus: int, dtype: str) -> Strategy:
    """Where a training stage's state lives: its accelerate config on n_gpus processes, or
    one device for the in-process launcher (bf16 autocast when model.dtype is bfloat16)."""
    if cfg.launcher != "accelerate":
        return Strategy("single", 1, "bf16" if dtype == "bfloat16" else "no")
    import yaml

    from spin.pipeline.stages.training import PROJECT_ROOT

    path = Path(cfg.accelerate_config)
    if not path.is_absolute() and not path.exists():
        path = PROJECT_ROOT / path
    return strategy_from_accelerate(yaml.safe_load(path.read_text()), n_gpus)


def stage_memory(stage, exp, arch: Architecture, capacity: float, n_gpus: int):
    """(description, Estimate, fix or None) for a training or generation stage, else None."""
    n_params = exp.model.num_parameters or None
    if isinstance(stage, SFT | Train):
        cfg = stage.config
        shape = TrainingShape(
            per_device_batch=cfg.per_device_train_batch_size,
            sequences_per_example=stage.workload().sequences,
            max_length=cfg.max_length,
            gradient_checkpointing=cfg.gradient_checkpointing,
            optimizer=cfg.optimizer,
            dtype=stage.dtype,
            gradient_accumulation=cfg.gradient_accumulation_steps,
        )
        strategy = strategy_for(cfg, n_gpus, stage.dtype)
        est = training_memory(arch, shape, strategy, capacity, n_params=n_params)
        other = training_memory(
            arch,
            replace(shape, gradient_checkpointing=not shape.gradient_checkpointing),
            strategy,
            capacity,
            n_params=n_params,
        )
        est.notes.append(
            f"with gradient checkpointing {'off' if shape.gradient_checkpointing else 'on'}: "
            f"activations {other.components['activations'] / GIB:.1f} GiB, peak "
            f"{other.total / GIB:.1f} GiB ({'fits' if other.fits else 'does not fit'})"
        )
        checkpointing = "on" if shape.gradient_checkpointing else "off"
        what = (
            f"training: {strategy.describe()}; batch {shape.per_device_batch} x "
            f"{shape.sequences_per_example} sequences x {shape.max_length} tokens, "
            f"{cfg.optimizer}, gradient checkpointing {checkpointing}"
        )
        fix = None if est.fits else smallest_fix(arch, shape, strategy, capacity, n_params=n_params)
        return what, est, fix
    if isinstance(stage, Generate):
        g = stage.config
        est = generation_memory(
            arch,
            backend=g.backend,
            batch_size=g.batch_size,
            prompt_tokens=exp.training.max_prompt_length,
            new_tokens=g.max_new_tokens,
            dtype=stage.dtype,
            capacity=capacity,
            gpu_memory_utilization=g.gpu_memory_utilization,
            tensor_parallel_size=g.tensor_parallel_size,
            n_params=n_params,
        )
        processes = max(1, n_gpus // g.tensor_parallel_size)
        what = (
            f"generation: {g.backend}, {processes} process(es), batch {g.batch_size}, "
            f"{exp.training.max_prompt_length} prompt + {g.max_new_tokens} new tokens"
        )
        return what, est, None
    return None


def _gib(n: float) -> str:
    return f"{n / GIB:6.1f} GiB"


def print_memory(exp, stages, gpu: str, n_gpus: int) -> None:
    arch = architecture_for(exp.model)
    capacity = GPU_MEMORY[gpu]
    print(f"\nmemory per GPU on {n_gpus}x {gpu} ({capacity / GIB:.1f} GiB each):")
    if arch is None:
        print(f"  (no estimate: the architecture of {exp.model.name_or_path} is unknown here)")
        return
    groups: dict[str, list] = {}
    for s in stages:
        result = stage_memory(s, exp, arch, capacity, n_gpus)
        if result is not None:
            groups.setdefault(result[0], [result]).append(s.name)
    for what, (result, *names) in groups.items():
        _, est, fix = result
        shown = ", ".join(names[:3]) + (f" (+{len(names) - 3} more)" if len(names) > 3 else "")
        verdict = "fits" if est.fits else "DOES NOT FIT"
        print(f"\n  {shown}\n  {what}")
        for name, value in est.components.items():
            print(f"    {name:28} {_gib(value)}")
        print(f"    {'peak per GPU':28} {_gib(est.total)}  of {capacity / GIB:.1f}: {verdict}")
        for note in est.notes:
            print(f"    {note}")
        if est.host_per_rank:
            print(
                f"    host memory per rank to load the weights: {_gib(est.host_per_rank).strip()} "
                "(from the loading path: spin/memory.py)"
            )
        if not est.fits:
            if fix is None:
                print("    no change found that fits: more GPUs or a larger one")
            else:
                label, fixed = fix
                print(f"    smallest change that fits: {label} -> {_gib(fixed.total).strip()}")
    print(
        "\n  formula: spin/memory.py; an estimate (allocator fragmentation and library "
        "buffers can add a few GiB)"
    )


__all__ = ["Estimate", "architecture_for", "print_memory", "stage_memory", "strategy_for"]
