"""`spin compare` on files written by stock lm-eval itself: lm_eval.simple_evaluate on the tiny
model and local copies of arc_challenge and gsm8k (lm-eval's own task YAMLs, data from
spin.eval.copies), saved by lm-eval's EvaluationTracker exactly as `lm_eval --output_path
--log_samples` saves them (the CLI's calls, in its order)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from spin import cli
from spin.report import bootstrap, imports
from tests.integration.eval_copies import build_openllm_copy


def _task_yamls(folder: Path, data: Path) -> Path:
    """arc_challenge and gsm8k as lm-eval ships them, reading the local copies."""
    import lm_eval

    shipped = Path(lm_eval.__file__).parent / "tasks"
    folder.mkdir(parents=True)
    (folder / "arc_challenge.yaml").write_text(
        f"include: {shipped / 'arc' / 'arc_easy.yaml'}\n"
        "task: arc_challenge\n"
        "dataset_path: json\n"
        "dataset_name: null\n"
        "dataset_kwargs:\n  data_files:\n"
        f"    train: {data / 'arc_challenge' / 'train.jsonl'}\n"
        f"    test: {data / 'arc_challenge' / 'test.jsonl'}\n"
        "validation_split: null\n"
        "num_fewshot: 25\n"
    )
    (folder / "gsm8k.yaml").write_text(
        f"include: {shipped / 'gsm8k' / 'gsm8k.yaml'}\n"
        "task: gsm8k\n"
        "dataset_path: json\n"
        "dataset_name: null\n"
        "dataset_kwargs:\n  data_files:\n"
        f"    train: {data / 'gsm8k' / 'train.jsonl'}\n"
        f"    test: {data / 'gsm8k' / 'test.jsonl'}\n"
        # short generations keep the test fast; the rest is lm-eval's gsm8k
        "generation_kwargs:\n  until: ['Question:']\n  do_sample: false\n  max_gen_toks: 16\n"
    )
    return folder


@pytest.fixture(scope="module")
def lm_eval_output(tiny_model_dir, tmp_path_factory) -> Path:
    """results_<date>.json and samples_<task>_<date>.jsonl, written by lm-eval 0.4.13."""
    from lm_eval import simple_evaluate
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    root = tmp_path_factory.mktemp("lm_eval_stock")
    build_openllm_copy(root / "data")
    tasks = _task_yamls(root / "tasks", root / "data")
    tracker = EvaluationTracker(output_path=str(root / "out"))
    results = simple_evaluate(
        model="hf",
        model_args={"pretrained": str(tiny_model_dir), "dtype": "float32"},
        tasks=["arc_challenge", "gsm8k"],
        task_manager=TaskManager(include_path=str(tasks), include_defaults=False),
        batch_size=4,
        device="cpu",
        log_samples=True,
        evaluation_tracker=tracker,
    )
    samples = results.pop("samples")  # what lm_eval's CLI does next (lm_eval/_cli/run.py)
    tracker.save_results_aggregated(results=results, samples=samples)
    for task_name in results["configs"]:
        tracker.save_results_samples(task_name=task_name, samples=samples[task_name])
    (path,) = (root / "out").rglob("results_*.json")
    return path


def test_stock_lm_eval_results_compare_beside_the_papers_rows(lm_eval_output, tmp_path, capsys):
    raw = json.loads(lm_eval_output.read_text())
    assert raw["lm_eval_version"] == "0.4.13" and "schema" not in raw  # stock, untouched
    assert len(list(lm_eval_output.parent.glob("samples_*.jsonl"))) == 2

    (r,) = imports.load_any(lm_eval_output)
    assert r["suite"] == "openllm-v1" and r["provenance"]["harness"] == "lm-eval 0.4.13"
    arc, gsm = r["tasks"]["arc_challenge"], r["tasks"]["gsm8k"]
    # lm-eval's own numbers, in percent, under the suite's metric and filter
    res = raw["results"]
    assert arc["value"] == pytest.approx(100 * res["arc_challenge"]["acc_norm,none"], abs=1e-4)
    assert gsm["value"] == pytest.approx(100 * res["gsm8k"]["exact_match,strict-match"], abs=1e-4)
    assert arc["n"] == raw["n-samples"]["arc_challenge"]["effective"] == 3
    assert gsm["n"] == raw["n-samples"]["gsm8k"]["effective"] == 2
    assert (arc["shots"], gsm["shots"]) == (25, 5) and r["provenance"]["shots_differ"] is None
    prov = r["provenance"]
    assert prov["task_hashes"]["arc_challenge"] == raw["task_hashes"]["arc_challenge"]
    assert prov["model_args"]["pretrained"] == raw["config"]["model_args"]["pretrained"]
    assert r["average"] is None  # four of the six tasks missing: no average

    # pairing keys are the documents' content: lm-eval's doc_hash, sha256 of the doc's JSON
    samples = bootstrap.samples_of(r)
    arc_samples = samples[samples["task"] == "arc_challenge"]
    docs = [
        json.loads(line)["doc"]
        for line in next(lm_eval_output.parent.glob("samples_arc_challenge_*")).open()
    ]
    by_hand = {
        hashlib.sha256(json.dumps(d, indent=2, ensure_ascii=False).encode()).hexdigest()
        for d in docs
    }
    assert set(arc_samples["doc_key"]) == by_hand and len(by_hand) == 3
    same = bootstrap.compare_samples(samples, samples.iloc[::-1])
    assert same["same_data"].all() and not same["significant"].any()
    assert set(same["verdict"]) == {"no claim: n_paired 3 < 30", "no claim: n_paired 2 < 30"}

    out = tmp_path / "cmp"
    args = ["compare", "--results", str(lm_eval_output), "--against", "spin-table2"]
    assert cli.main([*args, "--output-dir", str(out)]) == 0
    text = capsys.readouterr().out
    assert "SPIN iter1" in text and "65.19 (n=1172)" in text  # the papers' rows, with their n
    assert f"{arc['value']:.2f} ± {arc['stderr']:.2f} (n=3) ≠" in text  # ours: n and marked
    cells = pd.read_csv(out / "compare_spin-table2.csv")
    new = cells[cells["run"] == "new"].set_index("benchmark")
    assert new.loc["arc_challenge", "n"] == 3 and not new.loc["arc_challenge", "same_data_as_paper"]
    assert new.loc["gsm8k", "value"] == pytest.approx(gsm["value"])
    imported = json.loads(next((out / "imported").glob("*.json")).read_text())
    assert imported["schema"] == "spin-results/1"
    assert (out / "imported" / imported["provenance"]["samples_file"]).exists()
