"""Reading results/dynamics files: errors name file and field; seeds aggregate as documented."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from spin.errors import DataError
from spin.report import results


def result(name="SPIN iter1", value=65.0, stderr=1.0, seed=0, **model) -> dict:
    return {
        "schema": "spin-results/1",
        "model": {
            "name": name,
            "method": "spin",
            "iteration": 1,
            "base_model": "zephyr-7b-sft-full",
            "seed": seed,
            **model,
        },
        "suite": "openllm-v1",
        "tasks": {
            "arc_challenge": {
                "metric": "acc_norm",
                "value": value,
                "stderr": stderr,
                "n": 1172,
                "shots": 25,
            }
        },
        "average": value,
        "provenance": {"harness": "lm-eval 0.4.13", "git_commit": "abc123", "seed": seed},
    }


def write(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


def test_malformed_json_names_file_and_line(tmp_path):
    p = write(tmp_path / "bad.json", '{"schema": "spin-results/1",\n "model": }')
    with pytest.raises(DataError, match=r"bad\.json:2: malformed JSON"):
        results.load_results(p)


def test_wrong_schema_names_the_field(tmp_path):
    p = write(tmp_path / "r.json", {**result(), "schema": "lm-eval"})
    with pytest.raises(DataError, match=r"r\.json field 'schema'"):
        results.load_results(p)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda r: r["tasks"]["arc_challenge"].update(value="65"), "tasks.arc_challenge.value"),
        (lambda r: r["tasks"]["arc_challenge"].update(stderr=-1), "tasks.arc_challenge.stderr"),
        (lambda r: r["model"].pop("method"), "model.method"),
        (lambda r: r["model"].update(iteration="1"), "model.iteration"),
        (lambda r: r.update(tasks={}), "tasks"),
        (lambda r: r.update(average="high"), "average"),
    ],
)
def test_each_bad_field_is_named(tmp_path, mutate, field):
    obj = result()
    mutate(obj)
    p = write(tmp_path / "r.json", obj)
    with pytest.raises(DataError, match=f"field '{field}'"):
        results.load_results(p)


def test_scan_dispatches_on_schema(tmp_path):
    write(tmp_path / "a/b/r.json", result())
    write(tmp_path / "run.json", {"config": {}})  # pipeline bookkeeping: skipped, counted
    write(
        tmp_path / "deep/dyn.json",
        {
            "schema": "spin-dynamics/1",
            "method": "spin",
            "arm": "spin",
            "iteration": 0,
            "splits": {
                "train": {
                    "n": 4,
                    "reward_real": 0.1,
                    "logp_real": -40.0,
                    "reward_proto": None,
                    "mismatch_share": 0.5,
                }
            },
        },
    )
    scan = results.scan(tmp_path)
    assert [Path(r["_path"]).name for r in scan.results] == ["r.json"]
    assert len(scan.dynamics) == 1 and len(scan.skipped) == 1
    dyn = results.dynamics_frame(scan.dynamics)
    assert set(dyn["quantity"]) == {"reward_real", "logp_real", "mismatch_share"}  # nulls dropped
    write(tmp_path / "x.json", {"schema": "spin-results/2"})
    with pytest.raises(DataError, match=r"x\.json field 'schema'"):
        results.scan(tmp_path)


def test_seeds_aggregate_to_mean_and_combined_stderr(tmp_path):
    objs = [result(value=60.0, seed=0), result(value=62.0, seed=1)]
    agg = results.aggregate(
        results.to_frame([results.validate_results(o, f"s{i}.json") for i, o in enumerate(objs)])
    )
    arc = agg[agg["benchmark"] == "arc_challenge"].iloc[0]
    assert arc["value"] == 61.0 and arc["n_seeds"] == 2
    assert math.isclose(arc["spread"], math.sqrt(2))
    assert math.isclose(arc["stderr"], math.sqrt(1.0 + 2.0 / 2))  # eval error + seed-mean error


def test_one_name_two_models_is_an_error():
    a = results.validate_results(result(), "a.json")
    b = results.validate_results(result(iteration=2), "b.json")
    with pytest.raises(DataError, match=r"b\.json field 'model.iteration'"):
        results.aggregate(results.to_frame([a, b]))


def test_average_stderr_is_derived_from_tasks():
    obj = result()
    obj["tasks"]["gsm8k"] = {"value": 35.0, "stderr": 1.0}
    obj["average"] = 50.0
    frame = results.to_frame([results.validate_results(obj, "r.json")])
    avg = frame[frame["benchmark"] == "average"].iloc[0]
    assert math.isclose(avg["stderr"], math.sqrt(2) / 2)


def test_seeds_are_pooled_only_on_the_same_data():
    """Same model name and seed but other data (a 3-item ARC beside the full one) was once
    averaged as "2 seeds"; now it is an error naming both files."""
    full = results.validate_results(result(seed=0), "full.json")
    small = result(seed=1, value=33.3)
    small["tasks"]["arc_challenge"]["n"] = 3
    small = results.validate_results(small, "small.json")
    with pytest.raises(
        DataError,
        match=r"small\.json field 'tasks.arc_challenge'.*n=3 here but "
        r"n=1172 in full\.json.*same data",
    ):
        results.aggregate(results.to_frame([full, small]))
    other = result(seed=1)
    other["tasks"]["arc_challenge"]["data_sha256"] = "b" * 64
    mine = result(seed=0)
    mine["tasks"]["arc_challenge"]["data_sha256"] = "a" * 64
    with pytest.raises(DataError, match=r"other documents \(data_sha256\)"):
        results.aggregate(
            results.to_frame(
                [
                    results.validate_results(mine, "a.json"),
                    results.validate_results(other, "b.json"),
                ]
            )
        )
    twice = results.validate_results(result(seed=0), "again.json")
    with pytest.raises(DataError, match=r"the same seed \(0\).*one run twice"):
        results.aggregate(results.to_frame([full, twice]))
    # same data, different seeds: pooled, n kept
    seed1 = results.validate_results(result(seed=1, value=67.0), "s1.json")
    agg = results.aggregate(results.to_frame([full, seed1]))
    arc = agg[agg["benchmark"] == "arc_challenge"].iloc[0]
    assert arc["n_seeds"] == 2 and arc["n"] == 1172 and arc["value"] == 66.0
