"""The tiny pipeline for real: every stage runs; a killed run resumes to the same results."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spin.cli import main as spin
from spin.io import read_jsonl
from tests.integration.micro import TINY, micro_overrides

pytestmark = pytest.mark.slow


def _sets(overrides):
    return [a for o in overrides for a in ("--set", o)]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "a"
    assert spin(["run", str(TINY), "--output-dir", str(out), "-q", *_sets(micro_overrides())]) == 0
    return out


def _results(run: Path) -> dict:
    return {p.name: json.loads(p.read_text()) for p in sorted((run / "results").glob("*.json"))}


def test_every_stage_ran_and_results_follow_the_schema(uninterrupted):
    results = _results(uninterrupted)
    names = {r["model"]["name"] for r in results.values()}
    assert names == {
        "SFT",
        "SPIN iter0",
        "SPIN iter1",
        "T-SPIN iter0",
        "T-SPIN iter1",
        "SFT + 1 more SFT epoch",
    }
    for r in results.values():
        assert r["schema"] == "spin-results/1" and r["suite"] == "tiny"
        assert set(r["tasks"]) >= {
            "tiny_add",
            "tiny_sort",
            "tiny_reverse",
            "tiny_repeat",
            "tiny_lookup",
        }
        assert 0.0 <= r["average"] <= 100.0
        assert (uninterrupted / "results" / r["provenance"]["samples_file"]).exists()
    for arm in ("spin", "tspin"):
        for t in (0, 1):
            dyn = json.loads(
                (uninterrupted / "results" / "dynamics" / f"{arm}-iter{t}.json").read_text()
            )
            assert dyn["schema"] == "spin-dynamics/1"
            for split in ("train", "heldout"):
                s = dyn["splits"][split]
                assert 0.0 <= s["mismatch_share"] <= 1.0 and s["logp_proto"] is not None
    assert (uninterrupted / "accuracy.png").stat().st_size > 1000
    assert "SPIN iter1" in (uninterrupted / "summary.md").read_text()
    assert (uninterrupted / "checkpoints" / "spin-SPIN_iter1" / "config.json").exists()
    # SPIN's iteration 1 trains on iteration 0's pairs plus its own; T-SPIN does not mix
    stages = uninterrupted / "stages"
    runs = [json.loads((d / "run.json").read_text()) for d in stages.glob("pairs-*")]
    sizes = {(r["stage"], r["summary"]["train"]) for r in runs}
    assert sizes == {
        ("spin/iter0/pairs", 32),
        ("spin/iter1/pairs", 64),
        ("tspin/iter0/triplets", 32),
        ("tspin/iter1/triplets", 32),
    }
    trains = [json.loads((d / "run.json").read_text()) for d in stages.glob("train-*")]
    betas = {r["stage"]: r["params"]["training"]["beta"] for r in trains}
    assert (
        betas["tspin/iter0/train"] == 0.0 and betas["tspin/iter1/train"] == 0.1
    )  # T-SPIN's β schedule
    for d in stages.iterdir():
        run = json.loads((d / "run.json").read_text())
        assert {"params", "seed", "git_commit", "packages", "duration_s"} <= set(run)


def test_plan_reports_everything_cached(uninterrupted, capsys):
    assert (
        spin(["plan", str(TINY), "--output-dir", str(uninterrupted), *_sets(micro_overrides())])
        == 0
    )
    out = capsys.readouterr().out
    assert " 0 to run" in out and "[todo" not in out


def test_killed_run_resumes_to_the_same_results(uninterrupted, tmp_path):
    """Kill `spin run` mid-training (after a checkpoint), resume, compare with uninterrupted."""
    out = tmp_path / "b"
    cmd = [
        sys.executable,
        "-m",
        "spin.cli",
        "run",
        str(TINY),
        "--output-dir",
        str(out),
        "-q",
        *_sets(micro_overrides()),
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 600
    try:
        while time.time() < deadline and proc.poll() is None:
            if list(
                (out / "stages").glob("train-*.partial/checkpoints/checkpoint-*/trainer_state.json")
            ):
                break
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    partial = list((out / "stages").glob("*.partial"))
    assert partial, "the run was not caught mid-stage"
    assert spin(["run", str(TINY), "--output-dir", str(out), "-q", *_sets(micro_overrides())]) == 0
    assert not list((out / "stages").glob("*.partial"))
    a, b = _results(uninterrupted), _results(out)
    assert a.keys() == b.keys()
    for name in a:
        assert {t: v["value"] for t, v in a[name]["tasks"].items()} == {
            t: v["value"] for t, v in b[name]["tasks"].items()
        }, name
    resumed = [json.loads((d / "run.json").read_text()) for d in (out / "stages").iterdir()]
    assert any(r["resumed"] for r in resumed)
    for gen in (out / "stages").glob("generate-*"):
        idx = [r["idx"] for r in read_jsonl(gen / "generations.jsonl")]
        assert idx == sorted(set(idx)), "duplicated or reordered generations after resume"
        twin = uninterrupted / "stages" / gen.name
        assert read_jsonl(twin / "generations.jsonl") == read_jsonl(gen / "generations.jsonl")


def test_second_run_into_one_folder_refuses_and_the_survivor_is_intact(
    uninterrupted, tmp_path, capsys
):
    """Two `spin run` into one --output-dir: the second refuses naming the first, which
    finishes exactly as an uninterrupted run (no doubled generations or pairs)."""
    out = tmp_path / "c"
    args = ["run", str(TINY), "--output-dir", str(out), "-q", *_sets(micro_overrides())]
    log = tmp_path / "first.err"  # a file, not a pipe: a full pipe would stall the run
    with open(log, "w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "spin.cli", *args], stdout=subprocess.DEVNULL, stderr=stderr
        )
    try:
        deadline = time.time() + 600
        while time.time() < deadline and not list((out / "stages").glob("generate-*.partial")):
            assert proc.poll() is None, log.read_text()[-2000:]
            time.sleep(0.1)
        assert spin(args) == 2
        err = capsys.readouterr().err
        assert f"is in use by pid {proc.pid} on " in err and len(err.strip().splitlines()) == 1
        assert proc.wait(timeout=1800) == 0, log.read_text()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    tasks = {n: r["tasks"] for n, r in _results(out).items()}
    assert tasks == {n: r["tasks"] for n, r in _results(uninterrupted).items()}
    for gen in (uninterrupted / "stages").glob("generate-*"):
        twin = out / "stages" / gen.name / "generations.jsonl"
        assert read_jsonl(twin) == read_jsonl(gen / "generations.jsonl")
    assert not (out / "run.lock").exists()


def test_missing_model_path_is_a_clear_error(tmp_path, capsys):
    code = spin(
        [
            "run",
            str(TINY),
            "--output-dir",
            str(tmp_path),
            "-q",
            *_sets(micro_overrides("model.name_or_path=/no/such/model")),
        ]
    )
    assert code == 2
    assert "/no/such/model" in capsys.readouterr().err
