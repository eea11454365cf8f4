"""Data-parallel generation: sharding, merging, and the per-GPU processes (no GPU needed)."""

from __future__ import annotations

import json
import os
import sys
import textwrap

import pytest

from spin.errors import DataError, SpinError
from spin.generate.data_parallel import (
    launch,
    merge_shards,
    parse_shard,
    select_shard,
    shard_commands,
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


def test_parse_and_select_shard():
    assert parse_shard("3/8") == (3, 8)
    for bad in ["8/8", "-1/2", "1", "a/b"]:
        with pytest.raises(SpinError):
            parse_shard(bad)
    records = [{"idx": i} for i in range(10)]
    assert [r["idx"] for r in select_shard(records, "1/3")] == [4, 5, 6]


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
        "ckpt/iter0", "prompts.jsonl", "out/gen.jsonl", 2, ["--max-new-tokens", "256"],
        command=["spin", "generate"], base_env={"PATH": "/bin"},
    )  # fmt: skip
    assert [argv for argv, _ in jobs] == [
        ["spin", "generate", "--model", "ckpt/iter0", "--input", "prompts.jsonl",
         "--output", "out/gen.jsonl.shard0", "--shard", "0/2", "--max-new-tokens", "256"],
        ["spin", "generate", "--model", "ckpt/iter0", "--input", "prompts.jsonl",
         "--output", "out/gen.jsonl.shard1", "--shard", "1/2", "--max-new-tokens", "256"],
    ]  # fmt: skip
    assert [env["CUDA_VISIBLE_DEVICES"] for _, env in jobs] == ["0", "1"]
    assert all(env["PATH"] == "/bin" for _, env in jobs)


def test_shard_commands_respect_an_existing_gpu_allocation():
    jobs = shard_commands("m", "i", "o", 2, base_env={"CUDA_VISIBLE_DEVICES": "5,7"})
    assert [env["CUDA_VISIBLE_DEVICES"] for _, env in jobs] == ["5", "7"]
    assert jobs[0][0][:4] == [sys.executable, "-m", "spin.cli", "generate"]
    with pytest.raises(SpinError):
        shard_commands("m", "i", "o", 3, base_env={"CUDA_VISIBLE_DEVICES": "5,7"})


FAKE_GENERATE = textwrap.dedent(
    """
    import argparse, json, os, sys
    from spin.generate.data_parallel import select_shard
    p = argparse.ArgumentParser()
    for flag in ("--model", "--input", "--output", "--shard", "--fail-shard"):
        p.add_argument(flag)
    a = p.parse_args()
    if a.fail_shard == a.shard:
        sys.exit(3)
    records = [json.loads(line) for line in open(a.input)]
    with open(a.output, "w") as f:
        for r in select_shard(records, a.shard):
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
    assert not (tmp_path / "gen" / "out.jsonl.shard0").exists()  # merged, then removed

    with pytest.raises(SpinError, match=r"shard 1/2 exited 3 .*shard1\.log"):
        launch("M", inp, tmp_path / "again.jsonl", 2, ["--fail-shard", "1/2"],
               command=[sys.executable, str(fake)], base_env=env)  # fmt: skip
    assert not (tmp_path / "again.jsonl").exists()
