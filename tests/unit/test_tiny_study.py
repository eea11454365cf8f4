"""The tiny study's analysis on hand-made runs: paired differences over seeds and per item,
the power statement's formula, stability, and the report files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import t as student

from spin.tiny import study

TASKS = {"tiny_add": 4, "tiny_sort": 2}  # unequal sizes: the average weights families equally


def _scores(rng, p: float) -> dict[str, list[int]]:
    return {task: [int(x) for x in rng.random(n) < p] for task, n in TASKS.items()}


def _run(root: Path, seed: int, models: dict[tuple[str, int | None], dict]) -> Path:
    res = root / f"seed{seed}" / "results"
    (res / "samples").mkdir(parents=True)
    for i, ((arm, it), scores) in enumerate(models.items()):
        tasks = {
            t: {"metric": "exact_match", "value": 100 * float(np.mean(s)), "n": len(s)}
            for t, s in scores.items()
        }
        model = {
            "name": f"{arm} {it}",
            "method": arm,
            "iteration": it,
            "seed": seed,
            **({} if arm == "θ0" else {"arm": arm}),
        }
        payload = {
            "schema": "spin-results/1",
            "model": model,
            "suite": "tiny",
            "tasks": tasks,
            "average": float(np.mean([v["value"] for v in tasks.values()])),
            "provenance": {"samples_file": f"samples/{i}.jsonl"},
        }
        (res / f"{i}.json").write_text(json.dumps(payload))
        with (res / "samples" / f"{i}.jsonl").open("w") as f:
            for task, s in scores.items():
                for doc, v in enumerate(s):
                    f.write(json.dumps({"task": task, "doc_id": doc, "score": v}) + "\n")
    return root / f"seed{seed}"


@pytest.fixture
def runs(tmp_path):
    rng = np.random.default_rng(0)
    out = []
    for seed in (1, 2, 3):
        models = {("θ0", None): _scores(rng, 0.4)}
        for arm, n in (("spin", 2), ("tspin", 2), ("continued_sft", 2)):
            for it in range(n):
                models[(arm, it)] = _scores(rng, 0.5)
        out.append(_run(tmp_path, seed, models))
    return out


def test_paired_differences_over_seeds_and_items(runs):
    result = study.analyse(runs, resamples=2000)
    seeds = {s: study.load_seed(r)[1] for s, r in zip((1, 2, 3), runs, strict=True)}
    per_seed = [a[("spin", 1)] - a[("θ0", -1)] for a in seeds.values()]
    d = result["differences"]["SPIN iter1 − θ0"]
    half = student.ppf(0.975, 2) * np.std(per_seed, ddof=1) / math.sqrt(3)
    assert d["mean"] == pytest.approx(np.mean(per_seed))
    assert d["ci_high"] - d["mean"] == pytest.approx(half)
    # the weighted per-item differences average to the same difference of suite averages
    assert d["item_mean"] == pytest.approx(d["mean"])
    assert d["item_ci_low"] <= d["item_mean"] <= d["item_ci_high"]
    assert d["items"] == sum(TASKS.values())
    names = set(result["differences"])
    assert {"SPIN iter1 − continued SFT iter1", "T-SPIN iter0 − SPIN iter0"} <= names


def test_power_is_the_interval_half_width(runs):
    result = study.analyse(runs, resamples=500)
    d = result["differences"]["SPIN iter0 − θ0"]
    p = result["power"]["SPIN iter0 − θ0"]
    assert p["var_items"] + p["var_training"] >= p["var_over_seeds"] - 1e-9
    if p["var_training"] > 0:  # then the parts add up to the measured variance over seeds
        assert p["var_items"] + p["var_training"] == pytest.approx(d["sd"] ** 2)
    assert study.detectable(2.0, 5) == pytest.approx(student.ppf(0.975, 4) * 2.0 / math.sqrt(5))
    assert p["detectable"][5] > p["detectable"][10]


def test_stability_and_report_files(runs, tmp_path):
    result = study.analyse(runs, resamples=500)
    spin = result["stability"]["methods"]["SPIN"]
    seeds = [study.load_seed(r)[1] for r in runs]
    assert spin["per_seed_abs_change"] == pytest.approx(
        [abs(a[("spin", 1)] - a[("spin", 0)]) for a in seeds]
    )
    assert result["stability"]["iterations"] == [1]
    steadier = result["stability"]["tspin_minus_spin"]["abs_change"]
    tspin = result["stability"]["methods"]["T-SPIN"]["per_seed_abs_change"]
    assert steadier["mean"] == pytest.approx(np.mean(tspin) - np.mean(spin["per_seed_abs_change"]))
    out = tmp_path / "report" / "study"
    assert study.main([*map(str, runs), "--output", str(out), "--resamples", "200"]) == 0
    text = out.with_suffix(".md").read_text()
    assert text.index("## Power") < text.index("## Paired differences")
    assert "Per task family" in text and "tiny_sort" in text
    assert json.loads(out.with_suffix(".json").read_text())["seeds"] == [1, 2, 3]
    assert out.with_suffix(".png").stat().st_size > 0


def test_dynamics_mean_over_the_seeds_that_logged_them(runs):
    split = {
        "n": 4,
        "mismatch_share": 0.5,
        "logp_real": -8.0,
        "logp_generated": -6.0,
        "logp_per_token_real": -2.0,
        "logp_per_token_generated": -1.5,
        "logp_proto": None,
    }
    for run, shift in zip(runs[:2], (0.0, 2.0), strict=True):
        d = {
            "arm": "spin",
            "iteration": 0,
            "seed": run.name,
            "method": "spin",
            "splits": {"train": {**split, "logp_real": -8.0 + shift}},
        }
        (run / "results" / "dynamics").mkdir()
        (run / "results" / "dynamics" / "spin-iter0.json").write_text(json.dumps(d))
    dyn = study.dynamics_frame(runs).iloc[0]
    assert dyn["seeds"] == 2 and dyn["logp_real mean"] == -7.0
    assert dyn["logp_real std"] == pytest.approx(2**0.5)
    assert dyn["logp_per_token_generated mean"] == -1.5 and "logp_proto mean" not in dyn
