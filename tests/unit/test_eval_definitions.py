"""Suite and data manifests, result arithmetic, and the MT-Bench scorer and cost guard."""

from __future__ import annotations

import csv
import hashlib
import math
from pathlib import Path

import pytest

from spin.errors import DataError, SpinError
from spin.eval import data, harness, mtbench, mtbench_answers, results
from spin.eval.judge import JudgeConfig, confirm_cost
from spin.eval.suites import load_suite, suite_names

REPO = Path(__file__).resolve().parents[2]
REPORTED = next(
    (
        p
        for p in (
            REPO / "reports" / "reported" / "reported_results.csv",
            REPO.parent / "shared" / "reported" / "reported_results.csv",
        )
        if p.exists()
    ),
    None,
)


def _reported(source_prefix: str, table: str) -> set[str]:
    with open(REPORTED) as f:
        return {
            r["benchmark"]
            for r in csv.DictReader(f)
            if r["source"].startswith(source_prefix) and r["table"].startswith(table)
        } - {"average"}


@pytest.mark.skipif(REPORTED is None, reason="no reported_results.csv")
@pytest.mark.parametrize(
    ("suite", "source", "table", "extra"),
    [
        ("openllm-v1", "SPIN", "Table 2", set()),
        ("tspin-10", "T-SPIN", "Table 1", set()),
        ("spin-bbh", "SPIN", "Table 4", {"mt_bench"}),  # mt_bench is its own suite
    ],
)
def test_suites_use_the_reported_benchmark_names(suite, source, table, extra):
    assert set(load_suite(suite).tasks) | extra == _reported(source, table)


def test_every_subtask_has_data_and_exists_in_lm_eval():
    from lm_eval.tasks import TaskManager

    for name in suite_names():
        if name == "mt-bench":
            continue
        suite = load_suite(name)
        known = set(
            TaskManager(include_path=harness.task_dirs(suite), include_defaults=False).all_tasks
        )
        assert set(suite.subtasks()) <= known, name
        for sub in suite.subtasks():
            assert data.dataset_spec(sub)


def test_group_config_points_every_member_at_the_local_copy(tmp_path):
    (tmp_path / "bbh").mkdir()
    for t in ("causal_judgement", "formal_fallacies", "sports_understanding"):
        (tmp_path / "bbh" / f"{t}.json").write_text('{"examples": []}')
    (tmp_path / "openbookqa").mkdir()
    (tmp_path / "openbookqa" / "test.jsonl").write_text("{}\n")
    cfg = harness.group_config(load_suite("spin-bbh"), tmp_path)
    assert cfg["group"] == "spin_spin_bbh"
    member = cfg["task"][0]
    assert member["task"] == "bbh_cot_fewshot_causal_judgement" and member["num_fewshot"] == 3
    assert member["dataset_path"] == "json" and member["dataset_kwargs"]["field"] == "examples"
    assert cfg["task"][3]["dataset_kwargs"]["data_files"] == {
        "test": str(tmp_path / "openbookqa" / "test.jsonl")
    }
    hub = harness.group_config(load_suite("openllm-v1"), None)["task"][0]
    assert hub == {
        "task": "arc_challenge",
        "num_fewshot": 25,
        "dataset_kwargs": {"revision": "210d026faf9955653af8916fad021475a3f00453"},
    }


def test_missing_local_copy_names_the_file(tmp_path):
    with pytest.raises(DataError, match="gsm8k"):
        data.local_files("gsm8k", tmp_path)


def test_standard_error_formulas():
    v, se = results.mean_se([50.0, 70.0], [3.0, 4.0])
    assert v == 60.0 and se == pytest.approx(2.5)  # sqrt(9 + 16) / 2
    v, se = results.weighted_se([0.5, 1.0], [0.1, 0.2], [10, 30])
    assert v == pytest.approx(0.875) and se == pytest.approx(math.sqrt(1.0 + 36.0) / 40)
    assert results.mean_se([1.0, 2.0], [0.1, None])[1] is None


def test_mtbench_score_drops_unparsable_and_clusters_by_question():
    qs = [{"question_id": 1, "category": "math"}, {"question_id": 2, "category": "writing"}]
    js = [
        {"question_id": 1, "turn": 1, "score": 8},
        {"question_id": 1, "turn": 2, "score": 6},
        {"question_id": 2, "turn": 1, "score": 4},
        {"question_id": 2, "turn": 2, "score": -1},
    ]
    tasks, samples = mtbench.score(js, qs, "gpt-4")
    assert tasks["mt_bench"]["value"] == pytest.approx(6.0) and tasks["mt_bench"]["n"] == 3
    assert tasks["mt_bench"]["stderr"] == pytest.approx(
        math.sqrt(((7 - 5.5) ** 2 + (4 - 5.5) ** 2) / 1) / math.sqrt(2)
    )
    assert (
        tasks["turn2"]["value"] == 6
        and tasks["turn2"]["stderr"] is None
        and tasks["math"]["value"] == 7
    )
    assert len({(s["task"], str(s["doc_id"])) for s in samples}) == len(samples)


def test_paid_judge_needs_yes():
    with pytest.raises(SpinError, match="160 calls"):
        confirm_cost(JudgeConfig(base_url="https://api.openai.com/v1"), 160, yes=False)
    confirm_cost(JudgeConfig(base_url="https://api.openai.com/v1"), 160, yes=True)
    confirm_cost(JudgeConfig(base_url="http://127.0.0.1:8000/v1"), 160, yes=False)
    assert JudgeConfig(base_url="http://localhost:1/v1").is_local()
    assert not JudgeConfig(base_url="http://10.0.0.1/v1").is_local()


def test_mtbench_data_is_checked_against_the_pinned_sha256(tmp_path):
    for rel in mtbench.manifest()["files"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("{}\n")
    with pytest.raises(DataError, match="sha256"):
        mtbench.ensure_data(tmp_path)


def test_unknown_suite_suggests_the_nearest():
    with pytest.raises(SpinError, match="openllm-v1"):
        load_suite("openllm-v2")


def test_download_writes_the_local_layout_the_suites_read(tmp_path, monkeypatch):
    """`spin eval download` on mirrors of two Hub datasets (the Hub is unreachable here):
    per-split JSONL and BBH's own format, with sha256s in MANIFEST.json, read back by
    local_files exactly as `--data-dir` runs read them."""
    import json

    from spin.eval.suites import MetricRef, Suite, TaskSpec
    from spin.io import sha256_file

    mirror = tmp_path / "hub"
    gsm = [{"question": f"q{i}", "answer": f"#### {i}"} for i in range(3)]
    for split, rows in (("train", gsm[:2]), ("test", gsm[2:])):
        (mirror / "gsm8k").mkdir(parents=True, exist_ok=True)
        (mirror / "gsm8k" / f"{split}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows)
        )
    (mirror / "bbh").mkdir()
    (mirror / "bbh" / "test.jsonl").write_text('{"input": "x?", "target": "Yes"}\n')
    specs = {
        "gsm8k": {"hub": str(mirror / "gsm8k"), "name": None, "revision": None, "local": "gsm8k"},
        "bbh_cot_fewshot_causal_judgement": {
            "hub": str(mirror / "bbh"),
            "name": None,
            "revision": None,
            "local_file": "bbh/causal_judgement.json",
            "format": "bbh",
        },
    }
    monkeypatch.setattr(data, "_manifest", lambda: specs)
    suite = Suite(
        "mini",
        "",
        False,
        {
            "gsm8k": TaskSpec("gsm8k", ("gsm8k",), 5, MetricRef("exact_match")),
            "bbh": TaskSpec(
                "bbh", ("bbh_cot_fewshot_causal_judgement",), 3, MetricRef("exact_match")
            ),
        },
    )
    out = tmp_path / "copy"
    manifest = json.loads(data.download(suite, out).read_text())
    files = data.local_files("gsm8k", out)["data_files"]
    assert sorted(files) == ["test", "train"]
    assert [json.loads(x) for x in Path(files["train"]).read_text().splitlines()] == gsm[:2]
    bbh = data.local_files("bbh_cot_fewshot_causal_judgement", out)
    assert bbh["field"] == "examples"
    assert json.loads(Path(bbh["data_files"]["test"]).read_text())["examples"] == [
        {"input": "x?", "target": "Yes"}
    ]
    entry = manifest["datasets"]["gsm8k"]
    assert entry["files"]["gsm8k/test.jsonl"] == sha256_file(out / "gsm8k" / "test.jsonl")


def test_every_hub_dataset_is_pinned_to_a_commit():
    import re

    specs = data._manifest()
    unpinned = [
        t
        for t, s in specs.items()
        if s.get("hub") and not re.fullmatch(r"[0-9a-f]{7}|[0-9a-f]{40}", str(s.get("revision")))
    ]
    assert unpinned == []
    # One commit per Hub dataset: its subtasks must not disagree.
    by_hub: dict[str, set] = {}
    for s in specs.values():
        if s.get("hub"):
            by_hub.setdefault(s["hub"], set()).add(s["revision"])
    assert all(len(revs) == 1 for revs in by_hub.values()), by_hub


def test_ratio_standard_error():
    # One score per document: the sample standard error.
    xs = [1.0, 0.0, 1.0, 1.0]
    mean = sum(xs) / 4
    assert results._ratio_se(xs) == pytest.approx(
        math.sqrt(sum((x - mean) ** 2 for x in xs) / 3 / 4)
    )
    # Lists (IFEval's instructions per prompt): the ratio estimator clustered by document.
    docs = [[True, False], [True], [False, False, True]]
    k, m = [1, 1, 1], [2, 1, 3]
    r = 3 / 6
    want = math.sqrt(sum((a - r * b) ** 2 for a, b in zip(k, m, strict=True)) / (3 * 2)) / 2
    assert results._ratio_se(docs) == pytest.approx(want)
    assert results._ratio_se([[True]]) is None


def test_revision_fetches_the_hub_id_at_that_commit(tmp_path, monkeypatch):
    import huggingface_hub

    from spin.eval.command import _resolve_model

    asked = []

    def snapshot_download(repo_id, revision=None, **kwargs):  # the Hub is unreachable here
        asked.append((repo_id, revision))
        return str(tmp_path / "snapshot")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    info: dict = {}
    got = _resolve_model("alignment-handbook/zephyr-7b-sft-full", "ac6e600", info)
    assert got == str(tmp_path / "snapshot")
    assert asked == [("alignment-handbook/zephyr-7b-sft-full", "ac6e600")]
    assert info == {"path": "alignment-handbook/zephyr-7b-sft-full", "revision": "ac6e600"}
    assert _resolve_model("org/m", None, info) == "org/m"  # no revision: lm-eval resolves it
    with pytest.raises(SpinError, match="local folder"):
        _resolve_model(str(tmp_path), "abc", {})


def test_tasks_selects_part_of_a_suite_and_names_the_allowed_ones():
    suite = load_suite("spin-bbh")
    part = suite.select(["bbh_sports_understanding", "bbh_causal_judgement"])
    assert list(part.tasks) == ["bbh_causal_judgement", "bbh_sports_understanding"]
    assert part.subtasks() == [
        "bbh_cot_fewshot_causal_judgement",
        "bbh_cot_fewshot_sports_understanding",
    ]
    assert suite.select(None) is suite
    with pytest.raises(SpinError, match="'bbh_sport'.*bbh_sports_understanding.*openbookqa"):
        suite.select(["bbh_sport"])


def test_spin_bbh_bbh_tasks_need_no_openbookqa_copy(tmp_path):
    (tmp_path / "bbh").mkdir()
    for t in ("causal_judgement", "formal_fallacies", "sports_understanding"):
        (tmp_path / "bbh" / f"{t}.json").write_text('{"examples": []}')
    with pytest.raises(DataError, match="openbookqa"):
        data.sources(load_suite("spin-bbh"), tmp_path)
    part = load_suite("spin-bbh").select(["bbh_causal_judgement"])
    src = data.sources(part, tmp_path)["bbh_cot_fewshot_causal_judgement"]["local"]["test"]
    assert src["path"] == str((tmp_path / "bbh" / "causal_judgement.json").resolve())
    assert src["sha256"] == hashlib.sha256(b'{"examples": []}').hexdigest()


def test_manifest_warning_only_for_local_copies_of_hub_data(tmp_path):
    assert "MANIFEST.json" in data.manifest_warning(load_suite("spin-bbh"), tmp_path)
    assert data.manifest_warning(load_suite("spin-bbh"), None) is None
    assert data.manifest_warning(load_suite("tiny"), tmp_path) is None  # written by the pipeline
    (tmp_path / "MANIFEST.json").write_text("{}")
    assert data.manifest_warning(load_suite("spin-bbh"), tmp_path) is None


def test_bos_setting_per_suite_reaches_both_backends():
    assert load_suite("openllm-v1").add_bos_token is False
    assert load_suite("spin-bbh").add_bos_token is False
    assert load_suite("tspin-10").add_bos_token is None and load_suite("tiny").add_bos_token is None
    for backend in ("hf", "vllm"):
        off = harness.RunSettings(backend=backend, add_bos_token=False).resolve()
        assert harness.model_args("m", off)["add_bos_token"] is False
        assert "add_bos_token" not in harness.model_args(
            "m", harness.RunSettings(backend=backend).resolve()
        )


def test_seeds_default_to_lm_evals_and_never_move_the_fewshot_seed():
    from lm_eval.defaults import DEFAULT_OTHER_SEED, DEFAULT_RANDOM_SEED

    default = harness.RunSettings().seeds()
    assert default == {
        "random_seed": DEFAULT_RANDOM_SEED,
        "numpy_seed": DEFAULT_OTHER_SEED,
        "torch_seed": DEFAULT_OTHER_SEED,
        "fewshot_seed": DEFAULT_OTHER_SEED,
    }
    assert harness.RunSettings(seed=7).seeds() == {
        "random_seed": 7,
        "numpy_seed": 7,
        "torch_seed": 7,
        "fewshot_seed": 1234,
    }
    vllm = harness.RunSettings(backend="vllm").resolve()
    assert "seed" not in harness.model_args("m", vllm)  # lm-eval's VLLM default, 1234


def test_gsm8k_and_sports_run_with_the_paper_harness_overrides():
    gsm = load_suite("openllm-v1").tasks["gsm8k"]
    assert gsm.lm_eval_overrides["generation_kwargs"]["until"] == ["\n\n", "Question:"]
    member = harness.group_config(load_suite("openllm-v1").select(["gsm8k"]), None)["task"][0]
    assert member["generation_kwargs"]["until"] == ["\n\n", "Question:"]
    assert member["dataset_kwargs"] == {"revision": "740312add88f781978c0658806c59bc2815b9866"}
    sports = load_suite("spin-bbh").tasks["bbh_sports_understanding"].lm_eval_overrides
    assert sports["fewshot_config"]["doc_to_text"].endswith("step by step. ")


def test_results_validator_checks_the_new_provenance_keys(tmp_path):
    from spin.report.results import validate_results

    base = {
        "schema": "spin-results/1",
        "suite": "s",
        "tasks": {"t": {"value": 1.0}},
        "model": {"name": "m", "method": "sft", "base_model": "b"},
    }
    good = {
        "add_bos_token": False,
        "stop_sequences": {"gsm8k": ["\n\n"], "arc": None},
        "random_seeds": {"numpy_seed": 1234},
        "data": {"sources": {"gsm8k": {"local": {"test": {"path": "/x", "sha256": "a" * 64}}}}},
    }
    validate_results({**base, "provenance": good}, tmp_path / "r.json")
    validate_results({**base, "provenance": {}}, tmp_path / "r.json")  # older files stay valid
    for bad, field in (
        ({"add_bos_token": "no"}, "add_bos_token"),
        ({"stop_sequences": {"gsm8k": "\n\n"}}, "stop_sequences.gsm8k"),
        ({"data": {"sources": {"g": {"local": {"test": {"sha256": "x"}}}}}}, "sha256"),
    ):
        with pytest.raises(DataError, match=field):
            validate_results({**base, "provenance": bad}, tmp_path / "r.json")


def test_mtbench_prompt_keeps_one_bos():
    class Tok:
        """Reads '<s>' in the text as BOS (id 1); adds one itself when `adds_bos`."""

        bos_token, bos_token_id = "<s>", 1

        def __init__(self, adds_bos: bool):
            self.adds_bos = adds_bos

        def __call__(self, text):
            ids = [1] * self.adds_bos + [1] * text.startswith("<s>") + [5]
            return type("Enc", (), {"input_ids": ids})()

    assert mtbench_answers.single_bos("<s>[INST] hi [/INST]", Tok(True)) == "[INST] hi [/INST]"
    assert mtbench_answers.single_bos("<s>[INST] hi [/INST]", Tok(False)) == "<s>[INST] hi [/INST]"
    assert mtbench_answers.single_bos("<|user|>\nhi", Tok(True)) == "<|user|>\nhi"


def test_openllm_mmlu_is_v040s_size_weighted_group_with_the_plain_mean_beside():
    """lm-eval v0.4.0 (46c7966) weights the mmlu group's subjects by size. Hand-worked:
    56 subjects at acc 0.5 with 10 questions each, professional_law at 0.2 with 440.
    Size-weighted: (56*10*0.5 + 440*0.2) / 1000 = 368 / 1000 = 36.8 %.
    Plain mean of the 57: (56*0.5 + 0.2) / 57 = 28.2 / 57 = 49.4737 %."""
    from lm_eval.api.metrics import aggregate_subtask_metrics

    suite = load_suite("openllm-v1").select(["mmlu"])
    spec = suite.tasks["mmlu"]
    assert spec.aggregate == "size_weighted" and len(spec.subtasks) == 57
    raw = {"results": {}, "n-samples": {}, "samples": {}}
    for sub in spec.subtasks:
        acc, n = (0.2, 440) if sub == "mmlu_professional_law" else (0.5, 10)
        raw["results"][sub] = {"acc,none": acc, "acc_stderr,none": 0.01}
        raw["n-samples"][sub] = {"original": n, "effective": n}
    mmlu = results.tasks_from_lm_eval(suite, raw)["mmlu"]
    assert mmlu["value"] == pytest.approx(36.8)
    assert mmlu["unweighted"]["value"] == pytest.approx(100 * 28.2 / 57, abs=1e-4)
    assert mmlu["aggregate"] == "size_weighted" and mmlu["n"] == 1000
    # lm-eval's own group arithmetic (0.4.13's, the same weighting as v0.4.0's) agrees.
    accs = [raw["results"][s]["acc,none"] for s in spec.subtasks]
    sizes = [raw["n-samples"][s]["effective"] for s in spec.subtasks]
    assert mmlu["value"] == pytest.approx(100 * aggregate_subtask_metrics(accs, sizes, True))
    assert mmlu["unweighted"]["value"] == pytest.approx(
        100 * aggregate_subtask_metrics(accs, sizes, False), abs=1e-4
    )
    # stderr of a size-weighted mean: sqrt(sum (n_i se_i)^2) / N, in percent
    assert mmlu["stderr"] == pytest.approx(
        100 * math.sqrt(56 * (10 * 0.01) ** 2 + (440 * 0.01) ** 2) / 1000, abs=1e-4
    )


def test_mtbench_answers_are_cut_as_gen_model_answer_cuts_them():
    """gen_model_answer: cut at the first stop string found after position 0, then strip."""
    from spin.eval.fastchat_prompts import Rendered

    one_shot = Rendered("one_shot", [], "###", None)
    assert one_shot.clean(" Paris.\n### Human: and Rome?") == "Paris."
    assert one_shot.clean("### Paris") == "### Paris"  # found at 0: not cut (find(...) > 0)
    several = Rendered("x", [], ["<|end|>", "\nUser:"], None)
    assert several.clean("a\nUser: b<|end|>") == "a"
    assert Rendered("xgen", [], None, None).clean(" Assistant: hi ") == "hi"
    assert Rendered("zephyr", [], "</s>", [2]).clean(" ok </s>") == "ok"
