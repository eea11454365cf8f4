"""Compute estimates: FLOPs, GPU-hours and disk per pipeline stage, before anything runs.

The model is the usual dense-transformer rule of thumb (Kaplan et al. 2020; Chinchilla):
a forward pass costs about 2·N FLOPs per token and a backward pass twice that, so
training costs about 6·N·tokens, generation and evaluation about 2·N·tokens. Wall time is
FLOPs / (n_gpus · peak · MFU). Every number an estimate rests on is returned with it in
`assumptions`, so `spin plan` can show what it assumed, next to what the papers reported.

Pure functions, no torch: `spin plan` imports this on any machine.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

# Dense bf16 tensor-core peak per GPU, FLOP/s (vendor datasheets, without sparsity), by
# family and by the models `spin plan --gpu` names (their memory: spin.memory.GPU_MEMORY).
GPU_PEAK_FLOPS: dict[str, float] = {
    "a100": 312e12,
    "h100": 989e12,
    "a100-40gb": 312e12,
    "a100-80gb": 312e12,
    "h100-80gb": 989e12,
    "h200": 989e12,  # the H100's compute with more and faster memory
}

BYTES_PER_PARAM_BF16 = 2
# JSONL text on disk per token: ~4 characters per token plus JSON quoting and keys.
BYTES_PER_TOKEN_JSONL = 5

# The SPIN paper's own numbers (arXiv:2401.01335 v3, 8x A100 80GB), hours of wall time.
REPORTED_HOURS: dict[str, dict[int, float]] = {
    "generation": {0: 1.45, 1: 1.45, 2: 1.45, 3: 1.45},
    "training": {0: 4.32, 1: 8.64, 2: 8.64, 3: 8.64},
}
REPORTED_SOURCE = "SPIN paper v3 (arXiv:2401.01335v3), 8x A100 80GB"

# Zephyr-7B (Mistral-7B-v0.1 architecture) parameter count.
ZEPHYR_7B_PARAMS = 7.24e9


@dataclass(frozen=True)
class StageCompute:
    """The estimated cost of one stage, and the numbers the estimate rests on."""

    kind: str
    """'training', 'generation' or 'eval'."""
    flops: float
    """Total floating-point operations."""
    gpu_hours: float
    """GPU-hours: wall hours times the number of GPUs."""
    disk_bytes: int
    """Bytes the stage leaves on disk (checkpoint or data)."""
    assumptions: dict = field(default_factory=dict)
    """Every input of the estimate, by name, for display next to the result."""

    @property
    def wall_hours(self) -> float:
        """Hours on the clock with all `n_gpus` busy."""
        return self.gpu_hours / self.assumptions["n_gpus"]


def _peak(gpu: str) -> float:
    try:
        return GPU_PEAK_FLOPS[gpu.lower()]
    except KeyError:
        raise ValueError(f"unknown gpu {gpu!r}; known: {sorted(GPU_PEAK_FLOPS)}") from None


def _gpu_hours(flops: float, gpu: str, mfu: float) -> float:
    if not 0 < mfu <= 1:
        raise ValueError(f"mfu must be in (0, 1], got {mfu}")
    # GPU-hours do not depend on the GPU count: more GPUs, proportionally less wall time.
    return flops / (_peak(gpu) * mfu) / 3600


def estimate_training(
    n_params: float,
    n_examples: int,
    tokens_per_example: float,
    epochs: float,
    gpu: str = "a100",
    n_gpus: int = 8,
    mfu: float = 0.4,
    *,
    gradient_checkpointing: bool = False,
    reference_forward: bool = False,
) -> StageCompute:
    """One training stage: 6·N FLOPs per token per epoch.

    tokens_per_example counts every token the policy sees for one example: for a SPIN pair,
    prompt + real response and prompt + generated response. gradient_checkpointing adds the
    recomputed forward pass (8·N instead of 6·N); reference_forward adds one reference
    forward pass over the data (2·N per token, once: TRL precomputes reference log-probs).
    The saved checkpoint is the bf16 weights only (the optimizer state is not kept).
    """
    tokens = n_examples * tokens_per_example
    per_token = 8 if gradient_checkpointing else 6
    flops = per_token * n_params * tokens * epochs
    if reference_forward:
        flops += 2 * n_params * tokens
    return StageCompute(
        kind="training",
        flops=flops,
        gpu_hours=_gpu_hours(flops, gpu, mfu),
        disk_bytes=int(BYTES_PER_PARAM_BF16 * n_params),
        assumptions={
            "n_params": n_params,
            "n_examples": n_examples,
            "tokens_per_example": tokens_per_example,
            "epochs": epochs,
            "flops_per_param_token": per_token,
            "reference_forward": reference_forward,
            "gpu": gpu,
            "peak_flops_per_gpu": _peak(gpu),
            "n_gpus": n_gpus,
            "mfu": mfu,
            "checkpoint": "bf16 weights, 2 bytes/param, no optimizer state",
        },
    )


def estimate_generation(
    n_params: float,
    n_prompts: int,
    prompt_tokens: float,
    new_tokens: float,
    gpu: str = "a100",
    n_gpus: int = 8,
    mfu: float = 0.05,
) -> StageCompute:
    """Generating one response per prompt: 2·N FLOPs per prompt and generated token.

    The default MFU is low on purpose: decoding is memory-bandwidth-bound, not
    compute-bound (the paper's 1.45 h for 50k x 256 tokens on 8 A100s is about 2%).
    """
    tokens = n_prompts * (prompt_tokens + new_tokens)
    flops = 2 * n_params * tokens
    return StageCompute(
        kind="generation",
        flops=flops,
        gpu_hours=_gpu_hours(flops, gpu, mfu),
        disk_bytes=int(tokens * BYTES_PER_TOKEN_JSONL),
        assumptions={
            "n_params": n_params,
            "n_prompts": n_prompts,
            "prompt_tokens": prompt_tokens,
            "new_tokens": new_tokens,
            "flops_per_param_token": 2,
            "gpu": gpu,
            "peak_flops_per_gpu": _peak(gpu),
            "n_gpus": n_gpus,
            "mfu": mfu,
            "bytes_per_token_on_disk": BYTES_PER_TOKEN_JSONL,
        },
    )


def format_bytes(n: float) -> str:
    """Human-readable size, powers of 1024."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    raise AssertionError("unreachable")


def disk_free_check(path: str | Path, needed_bytes: int) -> str | None:
    """A warning if the filesystem holding `path` has less than `needed_bytes` free.

    `path` need not exist yet (an output directory about to be made): the nearest
    existing parent is measured.
    """
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    free = shutil.disk_usage(p).free
    if free < needed_bytes:
        return (
            f"{p} has {format_bytes(free)} free but the run needs about "
            f"{format_bytes(needed_bytes)}: free space or choose another --output-dir"
        )
    return None
