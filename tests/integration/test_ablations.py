"""T-SPIN's ablation experiments, shrunk to micro size, run for real on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spin.cli import main as spin
from tests.integration.micro import ROOT, micro_overrides

pytestmark = pytest.mark.slow
TWO = "[{learning_rate: 1.0e-4}, {learning_rate: 2.0e-5}]"


def _run(name: str, out: Path, *extra: str) -> dict[str, list[dict]]:
    # the micro arms are tiny.yaml's; these files bring their own, shrunk by `extra`
    base = [o for o in micro_overrides() if not o.startswith("arms.")]
    sets = [a for o in (*base, *extra) for a in ("--set", o)]
    assert (
        spin(["run", str(ROOT / "replication" / name), "--output-dir", str(out), "-q", *sets]) == 0
    )
    runs: dict[str, list[dict]] = {}
    for d in (out / "stages").iterdir():
        r = json.loads((d / "run.json").read_text())
        runs.setdefault(r["kind"], []).append(r)
    return runs


def _results(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in (out / "results").glob("*.json")]


def test_no_historical_advantage_and_reference_ablations(tmp_path):
    runs = _run(
        "tiny-ablations.yaml",
        tmp_path,
        f"arms.tspin.iterations={TWO}",
        f"arms.tspin_noha.iterations={TWO}",
        f"arms.tspin_ref.iterations={TWO}",
    )
    train = {r["stage"]: r["params"] for r in runs["train"]}
    # iteration 0 is the same for all three (β = 0, y′ = y0), so it is trained once... except
    # T-SPIN_ref, whose reward differs
    assert "tspin_noha/iter0/train" not in train
    assert train["tspin_noha/iter1/train"]["training"]["beta"] == 0.0
    assert train["tspin/iter1/train"]["training"]["beta"] == 0.1
    assert train["tspin_ref/iter1/train"]["method"] == "tspin_ref"
    names = {r["model"]["name"] for r in _results(tmp_path)}
    assert {"T-SPIN w/o historical advantage iter1", "T-SPIN_ref iter1", "T-SPIN iter1"} <= names
    dyn = json.loads((tmp_path / "results/dynamics/tspin_ref-iter1.json").read_text())
    s = dyn["splits"]["train"]
    assert s["reward_real"] != pytest.approx(s["logp_real"])  # a log-ratio, not α·log πθ


def test_data_size_subsets_are_nested(tmp_path):
    runs = _run(
        "tiny-datasize.yaml",
        tmp_path,
        "data.num_prompts=64",
        "data.subset_sizes=[8, 16, 32, 64]",
        "arms={tspin_8: {method: tspin, data_subset: 8, label: T-SPIN 8, iterations: [{}, {}]},"
        " tspin_16: {method: tspin, data_subset: 16, label: T-SPIN 16, iterations: [{}, {}]},"
        " sft_32: {method: continued_sft, data_subset: 32, iterations: [{num_train_epochs: 2}]}}",
    )
    prep = next(p for p in (tmp_path / "stages").glob("prepare-*"))
    subsets = {
        n: {json.loads(line)["prompt"] for line in (prep / "subsets" / f"{n}.jsonl").open()}
        for n in (8, 16, 32, 64)
    }
    assert subsets[8] < subsets[16] < subsets[32] < subsets[64]
    examples = {
        r["stage"]: r["summary"]["examples"]
        for r in runs["train"] + runs["sft"]
        if "/iter" in r["stage"]
    }
    assert examples["tspin_8/iter1/train"] == 8 and examples["tspin_16/iter0/train"] == 16
    assert examples["sft_32/iter0/sft"] == 32
    sizes = {r["model"]["name"]: r["model"].get("train_examples") for r in _results(tmp_path)}
    assert sizes["T-SPIN 8 iter1"] == 8 and sizes["T-SPIN 16 iter1"] == 16 and sizes["SFT"] is None


def test_sensitivity_sweep_shares_iteration_zero(tmp_path):
    runs = _run(
        "tiny-sensitivity.yaml",
        tmp_path,
        "sweep.grid={iterations.1.alpha: [0.1, 1.0], iterations.1.beta: [0.5]}",
        f"arms.tspin.iterations={TWO}",
    )
    train = runs["train"]
    iter1 = sorted(
        (r["params"]["training"]["alpha"], r["params"]["training"]["beta"])
        for r in train
        if "/iter1/" in r["stage"]
    )
    assert iter1 == [(0.1, 0.5), (1.0, 0.5)]
    assert sum("/iter0/" in r["stage"] for r in train) == 1  # one shared iteration 0
