"""The pipeline's generate stage on N processes: the same file as one process.

Two CPU processes stand in for two GPUs (SPIN_GENERATE_PROCESSES=2); each is a real
`spin generate --shard K/2` on the tiny model, started and merged by the stage itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from spin.config import DataConfig, GenerationConfig, ModelConfig
from spin.generate.data_parallel import PROCESSES_ENV
from spin.io import write_jsonl
from spin.pipeline.stage import Store
from spin.pipeline.stages import BaseModel, Generate, Prepare


@dataclass(frozen=True, eq=False)
class _Prompts(Prepare):
    """The prepare stage with 21 tiny items as its prompts."""

    items: tuple = ()

    def run(self, ctx) -> dict:
        records = [
            {"idx": i, "prompt": r["prompt"], "real": r["answer"]} for i, r in enumerate(self.items)
        ]
        return {"prompts": write_jsonl(ctx.workdir / self.PROMPTS, records)}


def _generate_stage(tiny_model_dir, tiny_items, cfg: GenerationConfig) -> Generate:
    """A generate stage as build_graph makes it, on a prepared-data and a model stage."""
    data = DataConfig(source="tiny", num_prompts=21)
    prep = _Prompts("prepare", data, 3, False, 0, items=tuple(tiny_items[:21]))
    model = BaseModel("base_model", ModelConfig(name_or_path=str(tiny_model_dir)), None)
    return Generate("theta0/generate", cfg, prep.prompts(), "float32", model, prep)


def _run(stage: Generate, root, monkeypatch, processes: int) -> tuple[bytes, dict]:
    monkeypatch.setenv(PROCESSES_ENV, str(processes))
    store = Store(root)
    for dep in stage.inputs.values():
        store.run(dep, seed=3, config_hash="test")
    out = store.run(stage, seed=3, config_hash="test")
    return (out / "generations.jsonl").read_bytes(), store.summary(stage)


@pytest.mark.parametrize(
    "backend",
    ["transformers", pytest.param("vllm", marks=pytest.mark.vllm)],
)
def test_two_processes_write_the_one_process_file(
    backend, tiny_model_dir, tiny_items, tmp_path, monkeypatch
):
    # batch 4 and chunks of 8: the two shards are 12 and 9 records, cut on a batch boundary
    cfg = GenerationConfig(
        backend=backend,
        prompt_format="chat",
        max_new_tokens=6,
        batch_size=4,
        shard_size=8,
        gpu_memory_utilization=0.1,
    )
    stage = _generate_stage(tiny_model_dir, tiny_items, cfg)
    one, one_summary = _run(stage, tmp_path / "one", monkeypatch, 1)
    two, two_summary = _run(stage, tmp_path / "two", monkeypatch, 2)
    assert (one_summary["processes"], two_summary["processes"]) == (1, 2)
    assert two_summary["generated_now"] == 21
    assert two == one  # byte for byte: same records, same order, same greedy tokens
    assert [json.loads(line)["idx"] for line in two.splitlines()] == list(range(21))
    stage_dir = Store(tmp_path / "two").path(stage)
    # each shard's log, and the settings `spin generate` checks before it appends (issue 12)
    assert sorted(p.name for p in stage_dir.glob("generations.jsonl.*")) == [
        "generations.jsonl.shard0-of-2.log",
        "generations.jsonl.shard0-of-2.settings.json",
        "generations.jsonl.shard1-of-2.log",
        "generations.jsonl.shard1-of-2.settings.json",
    ]


def test_a_partial_run_resumes_only_with_the_same_process_count(
    tiny_model_dir, tiny_items, tmp_path, monkeypatch
):
    from spin.errors import SpinError

    cfg = GenerationConfig(prompt_format="chat", max_new_tokens=4, batch_size=4, shard_size=8)
    stage = _generate_stage(tiny_model_dir, tiny_items, cfg)
    store = Store(tmp_path)
    partial = store.partial(stage)
    partial.mkdir(parents=True)
    (partial / "generations.jsonl.shard0-of-2").write_text("")  # killed with 2 processes
    with pytest.raises(SpinError, match=f"made with 2 processes.*{PROCESSES_ENV}=2"):
        _run(stage, tmp_path, monkeypatch, 1)
