"""Generation spread over all GPUs: one engine per GPU on a disjoint shard, merged back.

vLLM's own data parallelism needs one process per GPU anyway; running N independent
`spin generate --shard K/N` processes, each pinned to one GPU with CUDA_VISIBLE_DEVICES,
keeps every engine a plain single-GPU engine and makes a failure local to its shard.
The merged file is ordered by the input's `idx` field, so the output is the same file
whatever the number of GPUs (given a deterministic backend).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from spin.errors import DataError, SpinError
from spin.io import read_jsonl, write_jsonl

INDEX_FIELD = "idx"


def shard_ranges(n_items: int, n_shards: int) -> list[tuple[int, int]]:
    """Split range(n_items) into n_shards contiguous half-open ranges [start, end).

    Sizes differ by at most one, the larger ones first; with more shards than items the
    trailing shards are empty. Contiguous (not strided) so each engine's batches hold
    neighbouring prompts, and a shard's output is a slice of the merged file.
    """
    if n_shards < 1:
        raise ValueError(f"n_shards must be >= 1, got {n_shards}")
    if n_items < 0:
        raise ValueError(f"n_items must be >= 0, got {n_items}")
    base, extra = divmod(n_items, n_shards)
    ranges, start = [], 0
    for k in range(n_shards):
        end = start + base + (1 if k < extra else 0)
        ranges.append((start, end))
        start = end
    return ranges


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


def select_shard(records: Sequence[dict], spec: str) -> list[dict]:
    """The records of shard 'K/N': those whose idx lies in shard_ranges(len, N)[K].

    Assumes idx runs 0..len-1 (data preparation numbers the prompts that way); the
    merge checks that nothing was lost or doubled.
    """
    k, n = parse_shard(spec)
    start, end = shard_ranges(len(records), n)[k]
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


def shard_path(output: str | Path, k: int) -> Path:
    """Where shard k of `output` is written: OUTPUT.shardK."""
    return Path(f"{output}.shard{k}")


def shard_commands(
    model: str,
    input: str | Path,
    output: str | Path,
    n_gpus: int,
    extra_args: Sequence[str] = (),
    *,
    command: Sequence[str] | None = None,
    base_env: Mapping[str, str] | None = None,
) -> list[tuple[list[str], dict[str, str]]]:
    """The argv and environment of each shard's process, one per GPU.

    Shard K sees only GPU K. If CUDA_VISIBLE_DEVICES is already set (a SLURM allocation,
    say "2,3,6,7"), shard K gets the K-th device of that list rather than physical GPU K.
    """
    if n_gpus < 1:
        raise ValueError(f"n_gpus must be >= 1, got {n_gpus}")
    env = dict(os.environ if base_env is None else base_env)
    visible = env.get("CUDA_VISIBLE_DEVICES")
    devices = [d.strip() for d in visible.split(",") if d.strip()] if visible else None
    if devices is not None and len(devices) < n_gpus:
        raise SpinError(f"n_gpus={n_gpus} but CUDA_VISIBLE_DEVICES lists only {visible!r}")
    prefix = list(command) if command is not None else default_command()
    jobs = []
    for k in range(n_gpus):
        argv = prefix + [
            "--model", str(model),
            "--input", str(input),
            "--output", str(shard_path(output, k)),
            "--shard", f"{k}/{n_gpus}",
            *extra_args,
        ]  # fmt: skip
        shard_env = dict(env)
        shard_env["CUDA_VISIBLE_DEVICES"] = devices[k] if devices is not None else str(k)
        jobs.append((argv, shard_env))
    return jobs


def launch(
    model: str,
    input: str | Path,
    output: str | Path,
    n_gpus: int,
    extra_args: Sequence[str] = (),
    *,
    command: Sequence[str] | None = None,
    base_env: Mapping[str, str] | None = None,
) -> int:
    """Run one `spin generate` per GPU on disjoint shards, then merge into `output`.

    The shards run concurrently; each one's stdout and stderr go to OUTPUT.shardK.log.
    Raises SpinError naming the failed shards and their logs if any exits non-zero.
    `command` replaces the `spin generate` prefix (tests inject a fake). Returns the
    number of merged records; the shard files are removed once the merge succeeded.
    """
    input_records = read_jsonl(input, required=(INDEX_FIELD,))
    jobs = shard_commands(
        model, input, output, n_gpus, extra_args, command=command, base_env=base_env
    )
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    procs = []
    for k, (argv, env) in enumerate(jobs):
        log = open(f"{shard_path(output, k)}.log", "w")  # noqa: SIM115 (closed below)
        procs.append(
            (k, subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT), log)
        )
    failed = []
    for k, proc, log in procs:
        if proc.wait() != 0:
            failed.append(f"shard {k}/{n_gpus} exited {proc.returncode} (log: {log.name})")
        log.close()
    if failed:
        raise SpinError("generation failed: " + "; ".join(failed))
    paths = [shard_path(output, k) for k in range(n_gpus)]
    n = merge_shards(paths, output, expected_idx=(r[INDEX_FIELD] for r in input_records))
    for p in paths:
        p.unlink()
    return n
