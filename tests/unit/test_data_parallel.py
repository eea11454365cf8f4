"""Data-parallel generation: sharding, merging, and the per-GPU processes (no GPU needed)."""

from __future__ import annotations

import json
import os
import sys
import textwrap

import pytest

from spin.config import GenerationConfig
from spin.errors import DataError, SpinError
from spin.generate.data_parallel import (
    PROCESSES_ENV,
    batch_alignment,
    check_resumable,
    launch,
    merge_shards,
    parse_shard,
    process_count,
    select_shard,
    shard_commands,
    shard_path,
    shard_ranges,
)


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


@pytest.mark.parametrize("n_items", [0, 1, 7, 10, 101])
@pytest.mark.parametrize("n_shards", [1, 2, 3, 8])
def test_shard_ranges_cover_everything_once(n_items, n_shards):
    ranges = shard_ranges(n_items, n_shards)
    assert len(ranges) == n_shards
    covered = [i for start, end in ranges for i in range(start, end)]
    assert covered == list(range(n_items))  # contiguous, disjoint, in order
    sizes = [end - start for start, end in ranges]
    assert max(sizes) - min(sizes) <= 1


def test_shard_ranges_by_hand():
    assert shard_ranges(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert shard_ranges(2, 4) == [(0, 1), (1, 2), (2, 2), (2, 2)]
    with pytest.raises(ValueError):
        shard_ranges(5, 0)


@pytest.mark.parametrize("n_items", [0, 5, 16, 17, 100])
@pytest.mark.parametrize("align", [1, 4, 8])
def test_aligned_shards_start_on_batch_boundaries(n_items, align):
    ranges = shard_ranges(n_items, 3, align)
    assert [i for start, end in ranges for i in range(start, end)] == list(range(n_items))
    assert all(start % align == 0 for start, end in ranges if end > start)
    blocks = [-(-(end - start) // align) for start, end in ranges]
    assert max(blocks) - min(blocks) <= 1


def test_aligned_shards_by_hand():
    assert shard_ranges(20, 2, 8) == [(0, 16), (16, 20)]  # 3 blocks of 8: 2 + 1
    assert shard_ranges(5, 3, 4) == [(0, 4), (4, 5), (5, 5)]


def test_batch_alignment_is_the_period_of_one_process_batches():
    def period(backend="transformers", **kw):
        return batch_alignment(GenerationConfig(backend=backend, **kw))

    assert period(batch_size=8, shard_size=512) == 8
    assert period(batch_size=16, shard_size=8) == 8  # chunks of 8 cut every batch short
    assert period(batch_size=6, shard_size=16) == 48  # boundaries 0,6,12,16,22,28,32,..,48
    assert period("vllm", batch_size=8, shard_size=512) == 512  # vLLM takes a chunk whole


def test_process_count(monkeypatch):
    assert process_count(env={PROCESSES_ENV: "3"}) == 3
    for bad in ("0", "two", "-1"):
        with pytest.raises(SpinError, match=PROCESSES_ENV):
            process_count(env={PROCESSES_ENV: bad})
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 8)
    assert process_count(env={}) == 8
    assert process_count(tensor_parallel_size=2, env={}) == 4
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert process_count(env={}) == 1  # a CPU: this process


def test_a_partial_generation_resumes_only_with_its_process_count(tmp_path):
    out = tmp_path / "generations.jsonl"
    check_resumable(out, 2)  # nothing there yet
    shard_path(out, 0, 2).write_text("")
    (tmp_path / "generations.jsonl.shard0-of-2.log").write_text("")
    check_resumable(out, 2)
    with pytest.raises(SpinError, match=f"made with 2 processes.*{PROCESSES_ENV}=2"):
        check_resumable(out, 4)
    with pytest.raises(SpinError, match="made with 2 processes"):
        check_resumable(out, 1)


def test_parse_and_select_shard():
    assert parse_shard("3/8") == (3, 8)
    for bad in ["8/8", "-1/2", "1", "a/b"]:
        with pytest.raises(SpinError):
            parse_shard(bad)
    records = [{"idx": i} for i in range(10)]
    assert [r["idx"] for r in select_shard(records, "1/3")] == [4, 5, 6]
    assert [r["idx"] for r in select_shard(records, "1/3", align=4)] == [4, 5, 6, 7]


def test_merged_output_is_the_same_whatever_the_shard_count(tmp_path):
    records = [{"idx": i, "text": f"response {i}"} for i in range(23)]
    outputs = []
    for n_shards in (1, 2, 3, 8):
        paths = []
        # write the shards in reverse, each shuffled, so order must come from idx
        for k, (start, end) in reversed(list(enumerate(shard_ranges(len(records), n_shards)))):
            p = tmp_path / f"n{n_shards}.shard{k}"
            _write(p, list(reversed(records[start:end])))
            paths.append(p)
        out = tmp_path / f"merged{n_shards}.jsonl"
        assert merge_shards(paths, out) == 23
        outputs.append(out.read_bytes())
    assert all(o == outputs[0] for o in outputs)
    assert [json.loads(line)["idx"] for line in outputs[0].splitlines()] == list(range(23))


def test_merge_detects_duplicates_and_missing(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _write(a, [{"idx": 0}, {"idx": 1}])
    _write(b, [{"idx": 1}, {"idx": 2}])
    out = tmp_path / "out.jsonl"
    with pytest.raises(DataError, match="idx 1 is also in"):
        merge_shards([a, b], out)
    _write(b, [{"idx": 3}])  # 2 is missing
    with pytest.raises(DataError, match="1 missing"):
        merge_shards([a, b], out)
    _write(b, [{"idx": 2}])  # complete, but the input had 4 items
    with pytest.raises(DataError, match="missing"):
        merge_shards([a, b], out, expected_idx=range(4))
    assert not out.exists()  # nothing half-written by the failed merges
    assert merge_shards([a, b], out, expected_idx=range(3)) == 3


def test_shard_commands_argv_and_env():
    jobs = shard_commands(
        "ckpt/iter0",
        "prompts.jsonl",
        "out/gen.jsonl",
        2,
        ["--max-new-tokens", "256"],
        command=["spin", "generate"],
        base_env={"PATH": "/bin"},
    )
    assert [argv for argv, _ in jobs] == [
        [
            "spin",
            "generate",
            "--model",
            "ckpt/iter0",
            "--input",
            "prompts.jsonl",
            "--output",
            "out/gen.jsonl.shard0-of-2",
            "--shard",
            "0/2",
            "--max-new-tokens",
            "256",
        ],
        [
            "spin",
            "generate",
            "--model",
            "ckpt/iter0",
            "--input",
            "prompts.jsonl",
            "--output",
            "out/gen.jsonl.shard1-of-2",
            "--shard",
            "1/2",
            "--max-new-tokens",
            "256",
        ],
    ]
    assert [env["CUDA_VISIBLE_DEVICES"] for _, env in jobs] == ["0", "1"]
    assert all(env["PATH"] == "/bin" for _, env in jobs)


def test_shard_commands_respect_an_existing_gpu_allocation():
    jobs = shard_commands("m", "i", "o", 2, base_env={"CUDA_VISIBLE_DEVICES": "5,7"})
    assert [env["CUDA_VISIBLE_DEVICES"] for _, env in jobs] == ["5", "7"]
    assert jobs[0][0][:4] == [sys.executable, "-m", "spin.cli", "generate"]
    with pytest.raises(SpinError):
        shard_commands("m", "i", "o", 3, base_env={"CUDA_VISIBLE_DEVICES": "5,7"})
    # tensor parallelism: each process gets a group of GPUs
    jobs = shard_commands("m", "i", "o", 2, gpus_per_shard=2, base_env={"PATH": "/bin"})
    assert [env["CUDA_VISIBLE_DEVICES"] for _, env in jobs] == ["0,1", "2,3"]
    with pytest.raises(SpinError, match="need 4 GPUs"):
        shard_commands(
            "m", "i", "o", 2, gpus_per_shard=2, base_env={"CUDA_VISIBLE_DEVICES": "1,2,3"}
        )


def test_generate_options_carry_every_generation_setting():
    from dataclasses import fields

    from spin.cli import build_parser
    from spin.generate.command import config_from_args, options

    changed = {
        "backend": "vllm",
        "prompt_format": "chat",
        "max_new_tokens": 7,
        "temperature": 0.7,
        "top_p": 0.9,
        "top_k": 20,
        "batch_size": 3,
        "shard_size": 5,
        "gpu_memory_utilization": 0.3,
        "tensor_parallel_size": 2,
        "layout": "clean",
    }
    # a new GenerationConfig field must be added here and to options()
    assert set(changed) == {f.name for f in fields(GenerationConfig)}
    cfg = GenerationConfig(**changed)
    assert all(getattr(cfg, k) != getattr(GenerationConfig(), k) for k in changed)
    argv = ["generate", "--model", "m", "--input", "i", "--output", "o"]
    args = build_parser().parse_args(argv + options(cfg, dtype="bfloat16", seed=4))
    assert config_from_args(args) == cfg
    assert (args.dtype, args.seed) == ("bfloat16", 4)


FAKE_GENERATE = textwrap.dedent(
    """
    import argparse, json, os, sys
    from spin.generate.data_parallel import select_shard
    p = argparse.ArgumentParser()
    for flag in ("--model", "--input", "--output", "--shard", "--fail-shard", "--align"):
        p.add_argument(flag)
    a = p.parse_args()
    if a.fail_shard == a.shard:
        sys.exit(3)
    records = [json.loads(line) for line in open(a.input)]
    with open(a.output, "w") as f:
        for r in select_shard(records, a.shard, int(a.align or 1)):
            r["response"] = f"{a.model}:{r['prompt']}"
            r["gpu"] = os.environ["CUDA_VISIBLE_DEVICES"]
            f.write(json.dumps(r) + "\\n")
    """
)


def test_launch_runs_one_process_per_gpu_and_merges(tmp_path):
    fake = tmp_path / "fake_generate.py"
    fake.write_text(FAKE_GENERATE)
    inp, out = tmp_path / "prompts.jsonl", tmp_path / "gen" / "out.jsonl"
    _write(inp, [{"idx": i, "prompt": f"p{i}"} for i in range(5)])
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    n = launch("M", inp, out, 2, command=[sys.executable, str(fake)], base_env=env)
    assert n == 5
    merged = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["idx"] for r in merged] == [0, 1, 2, 3, 4]
    assert [r["response"] for r in merged] == [f"M:p{i}" for i in range(5)]
    assert [r["gpu"] for r in merged] == ["0", "0", "0", "1", "1"]  # shards 0..2 and 3..4
    assert not (tmp_path / "gen" / "out.jsonl.shard0-of-2").exists()  # merged, then removed
    assert (tmp_path / "gen" / "out.jsonl.shard0-of-2.log").exists()  # the logs stay
    assert launch("M", inp, out, 2, command=[sys.executable, str(fake)], base_env=env) == 0

    # more shards than blocks: the empty shards are not started
    few = tmp_path / "few.jsonl"
    fake_cmd = [sys.executable, str(fake)]
    assert launch("M", inp, few, 3, ["--align", "4"], align=4, command=fake_cmd, base_env=env) == 5
    assert not (tmp_path / "few.jsonl.shard2-of-3.log").exists()

    with pytest.raises(SpinError, match=r"shard 1/2 exited 3 .*shard1-of-2\.log"):
        launch(
            "M",
            inp,
            tmp_path / "again.jsonl",
            2,
            ["--fail-shard", "1/2"],
            command=[sys.executable, str(fake)],
            base_env=env,
        )
    assert not (tmp_path / "again.jsonl").exists()
