"""Generation spread over all GPUs: one engine per GPU on a disjoint shard, merged back.

vLLM's own data parallelism needs one process per GPU anyway; running N independent
`spin generate --shard K/N` processes, each pinned to its GPUs with CUDA_VISIBLE_DEVICES,
keeps every engine a plain single-GPU (or tensor-parallel) engine and makes a failure
local to its shard. The pipeline's generate stage does this whenever it sees more than
one GPU (`launch`). Shards start on batch boundaries and the merged file is ordered by
the input's `idx` field, so every batch holds the same prompts as in one process and the
output is the same file whatever the number of GPUs (given a deterministic backend).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from spin.config import GenerationConfig
from spin.errors import DataError, SpinError
from spin.io import count_complete_lines, read_jsonl, write_jsonl

INDEX_FIELD = "idx"
PROCESSES_ENV = "SPIN_GENERATE_PROCESSES"
"""Overrides the number of generation processes (default: one per visible GPU, or one
group of tensor_parallel_size GPUs; one on a CPU). Not part of any cache key: the output
does not depend on it."""


def shard_ranges(n_items: int, n_shards: int, align: int = 1) -> list[tuple[int, int]]:
    """Split range(n_items) into n_shards contiguous half-open ranges [start, end).

    Every shard starts at a multiple of `align` (the batch period, see batch_alignment);
    counted in blocks of `align` items, sizes differ by at most one block, the larger
    ones first; with more shards than blocks the trailing shards are empty. Contiguous
    (not strided) so each engine's batches hold neighbouring prompts, and a shard's
    output is a slice of the merged file.
    """
    if n_shards < 1:
        raise ValueError(f"n_shards must be >= 1, got {n_shards}")
    if n_items < 0:
        raise ValueError(f"n_items must be >= 0, got {n_items}")
    if align < 1:
        raise ValueError(f"align must be >= 1, got {align}")
    base, extra = divmod(math.ceil(n_items / align), n_shards)
    ranges, start = [], 0
    for k in range(n_shards):
        end = min(start + (base + (1 if k < extra else 0)) * align, n_items)
        ranges.append((start, end))
        start = end
    return ranges


def batch_alignment(cfg: GenerationConfig) -> int:
    """The period of the batch boundaries of one-process generation, in records.

    generate_file cuts the input into chunks of shard_size and HF generate cuts each chunk
    into batches of batch_size (vLLM takes a chunk whole). A shard that starts on a
    multiple of this period sees the same batches as one process: same padding, same
    per-batch seed, hence the same tokens.
    """
    if cfg.backend == "vllm":
        return cfg.shard_size
    small, large = sorted((cfg.batch_size, cfg.shard_size))
    return small if large % small == 0 else math.lcm(small, large)


def process_count(tensor_parallel_size: int = 1, env: Mapping[str, str] | None = None) -> int:
    """How many generation processes to run: SPIN_GENERATE_PROCESSES if set, else one per
    group of tensor_parallel_size visible GPUs, else (a CPU) one."""
    env = os.environ if env is None else env
    forced = env.get(PROCESSES_ENV)
    if forced:
        if not forced.isdigit() or int(forced) < 1:
            raise SpinError(f"{PROCESSES_ENV}={forced!r}: expected a whole number >= 1")
        return int(forced)
    import torch

    n_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return max(1, n_gpus // max(1, tensor_parallel_size))


def parse_shard(spec: str) -> tuple[int, int]:
    """Parse 'K/N' (0-based K, 0 <= K < N), as given to `spin generate --shard`."""
    try:
        k_text, n_text = spec.split("/")
        k, n = int(k_text), int(n_text)
    except ValueError:
        raise SpinError(f"--shard must look like K/N (e.g. 0/8), got {spec!r}") from None
    if not 0 <= k < n:
        raise SpinError(f"--shard {spec}: K must be in 0..{n - 1} (0-based)")
    return k, n


def select_shard(records: Sequence[dict], spec: str, align: int = 1) -> list[dict]:
    """The records of shard 'K/N': those whose idx lies in shard_ranges(len, N, align)[K].

    Assumes idx runs 0..len-1 (data preparation numbers the prompts that way); the
    merge checks that nothing was lost or doubled.
    """
    k, n = parse_shard(spec)
    start, end = shard_ranges(len(records), n, align)[k]
    return [r for r in records if start <= r[INDEX_FIELD] < end]


def merge_shards(
    shard_paths: Iterable[str | Path],
    output_path: str | Path,
    expected_idx: Iterable[int] | None = None,
) -> int:
    """Merge shard JSONL files into output_path, ordered by idx; returns the record count.

    Raises DataError if an idx appears twice (naming both files) or if one is missing:
    from `expected_idx` when given, otherwise from the run 0..max(idx). The output is
    written atomically, so a failed merge leaves no partial file.
    """
    seen: dict[int, str] = {}
    records: list[dict] = []
    for path in shard_paths:
        for record in read_jsonl(path, required=(INDEX_FIELD,)):
            idx = record[INDEX_FIELD]
            if not isinstance(idx, int) or isinstance(idx, bool):
                raise DataError(path, f"idx must be an integer, got {idx!r}", field=INDEX_FIELD)
            if idx in seen:
                raise DataError(path, f"idx {idx} is also in {seen[idx]} (duplicate)")
            seen[idx] = str(path)
            records.append(record)
    expected = (
        set(expected_idx) if expected_idx is not None else set(range(max(seen, default=-1) + 1))
    )
    missing = sorted(expected - seen.keys())
    unexpected = sorted(seen.keys() - expected)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (first: {missing[:5]})")
        if unexpected:
            parts.append(f"{len(unexpected)} not in the input (first: {unexpected[:5]})")
        raise DataError(output_path, "merging shards: idx " + "; ".join(parts))
    records.sort(key=lambda r: r[INDEX_FIELD])
    return write_jsonl(output_path, records)


def default_command() -> list[str]:
    """`spin generate` run by this same interpreter, whatever PATH says."""
    return [sys.executable, "-m", "spin.cli", "generate"]


def shard_path(output: str | Path, k: int, n: int) -> Path:
    """Where shard k of n of `output` is written: OUTPUT.shardK-of-N (resumable by the
    shard's own process, as long as N stays the same)."""
    return Path(f"{output}.shard{k}-of-{n}")


def check_resumable(output: str | Path, n: int) -> None:
    """Refuse to resume a partial generation made with another number of processes: its
    shards cover other slices, and mixing them would lose or double records. (An output
    file beside no shard files is one process's work, or a finished merge: the caller
    tells them apart by its length.)"""
    output = Path(output)
    shards = output.parent.glob(f"{output.name}.shard*-of-*[0-9]")
    others = sorted({int(p.name.rsplit("-of-", 1)[1]) for p in shards} - {n})
    if others:
        raise SpinError(
            f"{output.parent} holds a partial generation made with {others[0]} processes, "
            f"this run would use {n}: set {PROCESSES_ENV}={others[0]} to resume it, or "
            "remove that folder to start over"
        )


def shard_commands(
    model: str,
    input: str | Path,
    output: str | Path,
    n_shards: int,
    extra_args: Sequence[str] = (),
    *,
    gpus_per_shard: int = 1,
    command: Sequence[str] | None = None,
    base_env: Mapping[str, str] | None = None,
) -> list[tuple[list[str], dict[str, str]]]:
    """The argv and environment of each shard's process, gpus_per_shard GPUs each.

    Shard K sees only its GPUs (K·g .. K·g+g-1). If CUDA_VISIBLE_DEVICES is already set (a
    SLURM allocation, say "2,3,6,7"), the shards share out that list rather than physical
    GPUs 0..N·g-1.
    """
    if n_shards < 1:
        raise ValueError(f"n_shards must be >= 1, got {n_shards}")
    env = dict(os.environ if base_env is None else base_env)
    visible = env.get("CUDA_VISIBLE_DEVICES")
    devices = [d.strip() for d in visible.split(",") if d.strip()] if visible else None
    needed = n_shards * gpus_per_shard
    if devices is not None and len(devices) < needed:
        raise SpinError(
            f"{n_shards} generation processes x {gpus_per_shard} GPU(s) need {needed} GPUs "
            f"but CUDA_VISIBLE_DEVICES lists only {visible!r}"
        )
    devices = devices or [str(i) for i in range(needed)]
    prefix = list(command) if command is not None else default_command()
    jobs = []
    for k in range(n_shards):
        argv = prefix + [
            "--model",
            str(model),
            "--input",
            str(input),
            "--output",
            str(shard_path(output, k, n_shards)),
            "--shard",
            f"{k}/{n_shards}",
            *extra_args,
        ]
        shard_env = dict(env)
        mine = devices[k * gpus_per_shard : (k + 1) * gpus_per_shard]
        shard_env["CUDA_VISIBLE_DEVICES"] = ",".join(mine)
        jobs.append((argv, shard_env))
    return jobs


def launch(
    model: str,
    input: str | Path,
    output: str | Path,
    n_shards: int,
    extra_args: Sequence[str] = (),
    *,
    align: int = 1,
    gpus_per_shard: int = 1,
    command: Sequence[str] | None = None,
    base_env: Mapping[str, str] | None = None,
) -> int:
    """Run one `spin generate` per shard concurrently on disjoint slices, then merge.

    `align` must be the workers' batch_alignment, so that empty shards are known here
    and not launched. Each shard's stdout and stderr go to OUTPUT.shardK-of-N.log; a
    killed launch resumes shard by shard on the next call with the same N. Raises
    SpinError naming the failed shards and their logs if any exits non-zero. `command`
    replaces the `spin generate` prefix (tests inject a fake). Returns the number of
    records generated by this call; the shard files are removed once the merge succeeded.
    """
    input_records = read_jsonl(input, required=(INDEX_FIELD,))
    check_resumable(output, n_shards)
    if Path(output).exists():
        if count_complete_lines(output) == len(input_records):
            return 0  # merged by an earlier call that was stopped before its stage completed
        raise SpinError(
            f"{output} is a partial generation made by one process, this run would use "
            f"{n_shards}: set {PROCESSES_ENV}=1 to resume it, or remove it to start over"
        )
    jobs = shard_commands(
        model,
        input,
        output,
        n_shards,
        extra_args,
        gpus_per_shard=gpus_per_shard,
        command=command,
        base_env=base_env,
    )
    ranges = shard_ranges(len(input_records), n_shards, align)
    paths = [shard_path(output, k, n_shards) for k in range(n_shards)]
    before = sum(count_complete_lines(p) for p in paths)
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    procs = []
    for k, (argv, env) in enumerate(jobs):
        if ranges[k][0] == ranges[k][1]:
            continue  # more shards than batches: nothing for this one
        log = open(f"{paths[k]}.log", "a")  # noqa: SIM115 (closed below)
        procs.append(
            (k, subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT), log)
        )
    failed = []
    for k, proc, log in procs:
        if proc.wait() != 0:
            failed.append(f"shard {k}/{n_shards} exited {proc.returncode} (log: {log.name})")
        log.close()
    if failed:
        raise SpinError("generation failed: " + "; ".join(failed))
    used = [paths[k] for k, _, _ in procs]
    n = merge_shards(used, output, expected_idx=(r[INDEX_FIELD] for r in input_records))
    for path in used:  # the logs stay, for the record
        path.unlink()
    return n - before
