"""The tiny data's splits: disjoint by default; with prompts_from_sft, SPIN's prompts are a
seeded sample of the SFT part and held-out items stay unseen."""

from __future__ import annotations

import pytest

from spin.config import ConfigError, DataConfig
from spin.io import read_jsonl
from spin.pipeline.stage import StageContext
from spin.pipeline.stages import Prepare


def _prepare(tmp_path, **data) -> dict[str, list[dict]]:
    cfg = DataConfig(source="tiny", num_sft=60, num_prompts=20, num_eval=30, **data)
    stage = Prepare("prepare", data=cfg, seed=3, need_sft=True, iterations=0)
    stage.run(StageContext(tmp_path, {}, 3))
    return {n: read_jsonl(tmp_path / f"{n}.jsonl") for n in ("sft", "prompts", "eval")}


def test_default_splits_are_disjoint(tmp_path):
    parts = _prepare(tmp_path)
    sft, spin = {r["prompt"] for r in parts["sft"]}, {r["prompt"] for r in parts["prompts"]}
    held = {r["prompt"] for r in parts["eval"]}
    assert (len(sft), len(spin), len(held)) == (60, 20, 30)
    assert not (sft & spin) and not (sft & held) and not (spin & held)


def test_prompts_from_sft_are_sft_items_and_eval_stays_unseen(tmp_path):
    parts = _prepare(tmp_path, prompts_from_sft=True)
    sft = {(r["prompt"], r["real"]) for r in parts["sft"]}
    spin = {(r["prompt"], r["real"]) for r in parts["prompts"]}
    assert len(spin) == 20 and spin <= sft
    assert not {p for p, _ in sft} & {r["prompt"] for r in parts["eval"]}


def test_prompts_from_sft_needs_enough_sft_items():
    with pytest.raises(ConfigError, match="num_prompts .* must be between 1 and num_sft"):
        DataConfig(source="tiny", num_sft=10, num_prompts=20, prompts_from_sft=True)


def test_data_seed_fixes_the_items_whatever_the_experiment_seed(tmp_path):
    def prepare(run_seed: int, data_seed: int | None) -> dict:
        cfg = DataConfig(source="tiny", num_sft=30, num_prompts=10, num_eval=10, seed=data_seed)
        stage = Prepare("prepare", data=cfg, seed=run_seed, need_sft=True, iterations=0)
        out = tmp_path / f"{run_seed}-{data_seed}"
        stage.run(StageContext(out, {}, run_seed))
        return {n: read_jsonl(out / f"{n}.jsonl") for n in ("sft", "prompts", "eval")}

    assert prepare(1, 7) == prepare(2, 7) == prepare(7, None)
    assert prepare(1, None) != prepare(2, None)
