"""Foreign results files: detected by content, converted to spin-results/1 with the numbers the
sources themselves show (leaderboard: its metric x 100, MMLU the plain mean of 57 subjects;
FastChat: show_result's mean), and placed by `spin compare` with n per cell."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from spin import cli
from spin.errors import DataError
from spin.eval.suites import load_suite
from spin.report import imports, results
from tests.shared import shared_path
from tests.unit.test_report_results import result

REPO = Path(__file__).resolve().parents[2]
MT_BENCH = shared_path("data", "mt_bench", marker="question.jsonl")
SUBJECTS = [s.removeprefix("mmlu_") for s in load_suite("openllm-v1").tasks["mmlu"].subtasks]


def leaderboard_file() -> dict:
    """An Open LLM Leaderboard v1 results file in the repository's layout (lighteval era)."""
    res = {
        "all": {"acc": 0.6, "acc_norm": 0.6},
        "harness|arc:challenge|25": {
            "acc": 0.5,
            "acc_stderr": 0.0146,
            "acc_norm": 0.5486348122866894,
            "acc_norm_stderr": 0.014542104569955265,
        },
        "harness|hellaswag|10": {"acc": 0.56, "acc_norm": 0.7587, "acc_norm_stderr": 0.0043},
        "harness|truthfulqa:mc|0": {
            "mc1": 0.2889,
            "mc2": 0.42839602626744816,
            "mc2_stderr": 0.0143,
        },
        "harness|winogrande|5": {"acc": 0.7490134175217048, "acc_stderr": 0.0122},
        "harness|gsm8k|5": {"acc": 0.2926459438968916, "acc_stderr": 0.0125},
        "harness|drop|3": {"f1": 0.1},
    }
    for i, s in enumerate(SUBJECTS):
        res[f"harness|hendrycksTest-{s}|5"] = {"acc": 0.3 + 0.005 * i, "acc_stderr": 0.04}
    summary = {
        k: {"hashes": {"hash_examples": f"h{i}"}, "truncated": 0, "non_truncated": 100 + i}
        for i, k in enumerate(res)
        if k != "all"
    }
    summary["harness|arc:challenge|25"]["non_truncated"] = 1172
    return {
        "config_general": {
            "lighteval_sha": "494ee12",
            "model_name": "HenryJJ/Instruct_Yi-6B_Dolly15K",
            "model_sha": "b8ecc9a",
            "model_dtype": "torch.bfloat16",
        },
        "results": res,
        "versions": {"all": 0, "harness|arc:challenge|25": 0},
        "summary_tasks": summary,
    }


def judgments(scores: dict[tuple[int, int], float], model: str = "my-model") -> list[dict]:
    return [
        {
            "question_id": q,
            "model": model,
            "judge": ["gpt-4", "single-v1" if t == 1 else "single-v1-multi-turn"],
            "user_prompt": "...",
            "judgment": f"Rating: [[{s}]]",
            "score": s,
            "turn": t,
            "tstamp": 1.0,
        }
        for (q, t), s in scores.items()
    ]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def lm_eval_minimal() -> dict:
    return {
        "results": {
            "winogrande": {"alias": "winogrande", "acc,none": 0.75, "acc_stderr,none": 0.1}
        },
        "n-shot": {"winogrande": 5},
        "n-samples": {"winogrande": {"original": 20, "effective": 20}},
        "versions": {"winogrande": 1.0},
        "config": {"model": "hf", "model_args": "pretrained=org/model,dtype=float32"},
        "lm_eval_version": "0.4.13",
        "model_name": "org/model",
    }


def test_each_format_is_detected_by_content(tmp_path):
    # names that say nothing: detection reads the content
    (tmp_path / "a.json").write_text(json.dumps(result()))
    (tmp_path / "b.json").write_text(json.dumps(lm_eval_minimal()))
    (tmp_path / "c.json").write_text(json.dumps(leaderboard_file()))
    write_jsonl(tmp_path / "d.txt", judgments({(81, 1): 8, (81, 2): 6}))
    assert imports.detect(tmp_path / "a.json") == imports.SPIN
    assert imports.detect(tmp_path / "b.json") == imports.LM_EVAL
    assert imports.detect(tmp_path / "c.json") == imports.LEADERBOARD
    assert imports.detect(tmp_path / "d.txt") == imports.FASTCHAT


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (json.dumps({"accuracy": 0.5}), "not a results file in a known format"),
        ("model,arc\nx,0.5\n", "not JSON"),
        (json.dumps({"schema": "other/2"}), "unknown schema 'other/2'"),
    ],
)
def test_unknown_format_is_one_line_naming_the_formats(tmp_path, capsys, content, what):
    p = tmp_path / "mine.json"
    p.write_text(content)
    with pytest.raises(DataError) as e:
        imports.detect(p)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(str(p)) and what in msg
    for name in ("spin-results/1", "lm-eval", "Open LLM Leaderboard v1", "FastChat"):
        assert name in msg
    assert cli.main(["compare", "--results", str(p), "--output-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "accepted formats" in err


def test_leaderboard_file_maps_to_openllm_v1(tmp_path):
    p = tmp_path / "results_2024-01-06T09-45-44.755529.json"
    p.write_text(json.dumps(leaderboard_file()))
    (r,) = imports.load_any(p)
    t = r["tasks"]
    assert r["suite"] == "openllm-v1" and r["model"]["name"] == "HenryJJ/Instruct_Yi-6B_Dolly15K"
    assert t["arc_challenge"]["value"] == pytest.approx(54.8635, abs=1e-4)  # acc_norm x 100
    assert t["arc_challenge"]["n"] == 1172 and t["arc_challenge"]["shots"] == 25
    assert t["truthfulqa_mc2"]["value"] == pytest.approx(42.8396, abs=1e-4)  # mc2
    assert t["gsm8k"]["value"] == pytest.approx(29.2646, abs=1e-4)
    mmlu = sum(0.3 + 0.005 * i for i in range(57)) / 57 * 100  # plain mean of the 57 subjects
    assert t["mmlu"]["value"] == pytest.approx(mmlu, abs=1e-4)
    assert t["mmlu"]["stderr"] == pytest.approx(100 * math.sqrt(57 * 0.04**2) / 57, abs=1e-4)
    assert r["average"] == pytest.approx(sum(v["value"] for v in t.values()) / 6, abs=1e-3)
    prov = r["provenance"]
    assert prov["model_sha"] == "b8ecc9a" and "lighteval 494ee12" in prov["harness"]
    assert prov["ignored_tasks"] == ["all", "harness|drop|3"]
    assert t["arc_challenge"]["data_sha256"].startswith("lighteval-hash_examples:")


def _mt_bench_layout(tmp_path: Path, rows: list[dict]) -> Path:
    """FastChat's layout: data/mt_bench/{question.jsonl, model_judgment/gpt-4_single.jsonl}
    (the real question file when ../shared has it; else categories come from the id blocks)."""
    data = tmp_path / "data" / "mt_bench"
    if MT_BENCH is not None:
        data.mkdir(parents=True, exist_ok=True)
        shutil.copy(MT_BENCH / "question.jsonl", data / "question.jsonl")
    return write_jsonl(data / "model_judgment" / "gpt-4_single.jsonl", rows)


def _scores() -> dict[tuple[int, int], float]:
    out = {}
    for q in range(81, 161):
        for t in (1, 2):
            out[(q, t)] = float((q * 7 + t * 3) % 10 + 1)
    out[(85, 2)] = -1  # an unparsable rating: dropped, as show_result drops it
    return out


def test_fastchat_judgments_average_as_show_result(tmp_path):
    scores = _scores()
    path = _mt_bench_layout(tmp_path, judgments(scores) + judgments({(81, 1): 2.0}, "other"))
    got = {r["model"]["name"]: r for r in imports.load_any(path)}
    assert set(got) == {"my-model", "other"}
    r = got["my-model"]
    valid = [s for s in scores.values() if s != -1]
    assert r["tasks"]["mt_bench"]["value"] == pytest.approx(sum(valid) / len(valid), abs=1e-4)
    assert r["tasks"]["mt_bench"]["n"] == 159
    t1 = [s for (q, t), s in scores.items() if t == 1]
    assert r["tasks"]["turn1"]["value"] == pytest.approx(sum(t1) / len(t1), abs=1e-4)
    writing = [s for (q, t), s in scores.items() if 81 <= q <= 90 and s != -1]
    assert r["tasks"]["writing"]["value"] == pytest.approx(sum(writing) / len(writing), abs=1e-4)
    assert r["provenance"]["parse_failures"] == 1 and r["suite"] == "mt-bench"
    assert len(r["_samples"]) == 159
    judge_python = REPO / ".venv-judge" / "bin" / "python"
    if judge_python.exists():  # FastChat's own show_result, the independent reference
        proc = subprocess.run(
            [
                str(judge_python),
                "-m",
                "fastchat.llm_judge.show_result",
                "--mode",
                "single",
                "--input-file",
                str(path),
                "--model-list",
                "my-model",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        average = proc.stdout.split("########## Average ##########")[1].split()
        assert float(average[average.index("my-model") + 1]) == pytest.approx(
            r["tasks"]["mt_bench"]["value"], abs=1e-4
        )


def test_compare_places_leaderboard_and_fastchat_files_with_n(tmp_path, capsys):
    lb = tmp_path / "lb" / "results_2024-01-06T09-45-44.755529.json"
    lb.parent.mkdir()
    lb.write_text(json.dumps(leaderboard_file()))
    out = tmp_path / "cmp"
    assert (
        cli.main(
            [
                "compare",
                "--results",
                str(lb),
                "--against",
                "spin-table2",
                "--output-dir",
                str(out),
                "--resamples",
                "200",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "HenryJJ/Instruct_Yi-6B_Dolly15K | new" in text.replace("  ", "")
    assert "54.86 ± 1.45 (n=1172)" in text and "SPIN iter1" in text and "No paired test" in text
    cells = pd.read_csv(out / "compare_spin-table2.csv")
    for col in ("value", "stderr", "n", "ci_low", "ci_high"):
        assert pd.api.types.is_numeric_dtype(cells[col]), col
    arc = cells[(cells["run"] == "new") & (cells["benchmark"] == "arc_challenge")].iloc[0]
    assert arc["ci_low"] == pytest.approx(arc["value"] - 1.959964 * arc["stderr"])
    assert arc["n"] == 1172 and bool(arc["same_data_as_paper"])
    hs = cells[(cells["run"] == "new") & (cells["benchmark"] == "hellaswag")].iloc[0]
    assert not bool(hs["same_data_as_paper"])  # n=101 here, 10042 in the paper: marked
    assert (out / "imported").is_dir() and (out / "compare_spin-table2.png").exists()

    path = _mt_bench_layout(tmp_path / "fc", judgments(_scores()))
    assert cli.main(["compare", "--results", str(path), "--output-dir", str(out)]) == 0
    text = capsys.readouterr().out
    assert "spin-table4" in str(list(out.glob("compare_*.md"))) and "(n=159) ≠" in text


def test_report_scan_imports_foreign_files_and_skips_covered_ones(tmp_path):
    res = tmp_path / "results"
    (res / "lb").mkdir(parents=True)
    (res / "lb" / "results_2024.json").write_text(json.dumps(leaderboard_file()))
    own = result()
    own["provenance"]["lm_eval_results_file"] = "openllm-v1.lm_eval.json"
    (res / "openllm-v1.json").write_text(json.dumps(own))
    (res / "openllm-v1.lm_eval.json").write_text(json.dumps(lm_eval_minimal()))  # stands for own
    (res / "run.json").write_text(json.dumps({"config": {}}))
    boolq = lm_eval_minimal()
    boolq["results"] = {"boolq": {"acc,none": 0.6}}
    boolq["n-samples"] = {"boolq": {"original": 9, "effective": 9}}
    (res / "other" / "results_2025.json").parent.mkdir()
    (res / "other" / "results_2025.json").write_text(json.dumps(boolq))
    scan = results.scan(res)
    (why,) = scan.unusable  # said, not dropped silently, and not fatal for the rest
    assert "results_2025.json" in why and "['boolq']" in why
    names = sorted(r["model"]["name"] for r in scan.results)
    assert names == ["HenryJJ/Instruct_Yi-6B_Dolly15K", "SPIN iter1"]
    assert [Path(p).name for p in scan.imported] == ["results_2024.json"]
    assert [Path(p).name for p in scan.covered] == ["openllm-v1.lm_eval.json"]
    assert [Path(p).name for p in scan.skipped] == ["run.json"]


def test_spin_report_reads_an_importable_file_instead_of_dropping_it(tmp_path, capsys):
    res = tmp_path / "results"
    res.mkdir()
    (res / "results_2024-01-06T09-45-44.755529.json").write_text(json.dumps(leaderboard_file()))
    out = tmp_path / "report"
    args = ["report", "--results-dir", str(res), "--output-dir", str(out), "--figures", "none"]
    assert cli.main(args) == 0
    captured = capsys.readouterr()
    assert "imported" in captured.err and "results_2024-01-06" in captured.err
    long = pd.read_csv(out / "results_long.csv")
    arc = long[long["benchmark"] == "arc_challenge"].iloc[0]
    assert arc["name"] == "HenryJJ/Instruct_Yi-6B_Dolly15K" and arc["n"] == 1172
