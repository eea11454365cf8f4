"""The suites run as the papers' harness (lm-eval v0.4.0 at 46c7966) ran them: GSM8K's filter,
stop sequences and metric, BBH sports_understanding's shots, no BOS, checked on the task
configs lm-eval 0.4.13 actually builds from our group YAML and on the tokens it sends."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
import yaml

from spin.eval import evaluate, harness
from spin.eval.suites import load_suite
from tests.integration.eval_copies import SHARED_BBH, build_bbh_copy, build_openllm_copy

MODEL_INFO = {"name": "tiny", "method": "sft", "iteration": None, "base_model": "tiny"}

# 46c7966's lm_eval/tasks/bbh/cot_fewshot/sports_understanding.yaml: description and
# doc_to_text (it wrote the three shots into the prompt; num_fewshot 0).
# Verbatim from the YAML, so its lines keep their length.
V040_SPORTS = (
    "Determine whether an artificially constructed sentence relating to sports is plausible or not.\n\n"  # noqa: E501
    'Q: Is the following sentence plausible? "Bam Adebayo scored a reverse layup in the Western Conference Finals."\n'  # noqa: E501
    "A: Let's think step by step. Bam Adebayo is an American basketball player. Scoring a reverse layup in the "  # noqa: E501
    "Western Conference Finals is part of the NBA Finals. So the answer is yes.\n\n"
    'Q: Is the following sentence plausible? "Santi Cazorla scored a touchdown."\n'
    "A: Let's think step by step. Santi Cazorla is a soccer player. Touchdown is part of American football and "  # noqa: E501
    "rugby. So the answer is no.\n\n"
    'Q: Is the following sentence plausible? "DeMar DeRozan was called for the goal tend."\n'
    "A: Let's think step by step. DeMar DeRozan is an American basketball player. Goal tending is part of "  # noqa: E501
    "basketball. So the answer is yes.\n\n"
    "Q: {input}\nA: Let's think step by step.\n"
)


def _lm_eval_task(suite_name: str, task: str, data_dir: Path):
    """The lm-eval Task object 0.4.13 builds for one subtask of our generated group."""
    from lm_eval.tasks import TaskManager

    suite = load_suite(suite_name).select([task])
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "g.yaml").write_text(
            yaml.safe_dump(harness.group_config(suite, data_dir), sort_keys=False)
        )
        manager = TaskManager(include_path=[*harness.task_dirs(suite), tmp], include_defaults=False)
        loaded = manager.load([suite.group])
    (only,) = loaded["tasks"].values()
    return only


def _score(task, doc: dict, response: str) -> dict[str, float]:
    """exact_match of one response under each of the task's filters, as lm-eval scores it."""
    out = {}
    for ensemble in task._filters:
        resps = [[response]]
        for make in ensemble.filters:
            resps = list(make().apply(resps, [doc]))
        out[ensemble.name] = task.process_results(doc, [resps[0]])["exact_match"]
    return out


def test_gsm8k_is_scored_as_v040(tmp_path):
    """strict-match is 46c7966's get-answer (the '#### ' regex, take_first); cases where it
    and flexible-extract (the last number) disagree get the paper harness's score."""
    build_openllm_copy(tmp_path / "data")
    task = _lm_eval_task("openllm-v1", "gsm8k", tmp_path / "data")
    spec = load_suite("openllm-v1").tasks["gsm8k"]
    assert spec.primary.key == "exact_match,strict-match"
    assert [r.key for r in spec.also] == ["exact_match,flexible-extract"]
    assert load_suite("tspin-10").tasks["gsm8k"].primary.key == "exact_match,strict-match"
    # 46c7966's stop sequences ("\n\n" first), not 0.4.13's "Question:", "</s>", "<|im_end|>".
    assert task.config.generation_kwargs["until"] == ["\n\n", "Question:"]
    doc = task.test_docs()[0]
    assert doc["answer"].endswith("#### 9")
    cases = {  # response: (46c7966's get-answer score, flexible-extract score)
        "He has 7 + 2 = 9 apples.\n#### 9": (1, 1),
        "He has 7 + 2 = 9 apples. The answer is 9": (0, 1),  # no '#### ': [invalid]
        "#### 9\nThat is 3 more than 6": (1, 0),  # the last number is 6
        "He has 9 apples.\n#### 9.": (0, 0),  # v0.4.0 did not ignore a final '.' (0.4.13 does)
    }
    for response, (paper, flexible) in cases.items():
        got = _score(task, doc, response)
        assert got == {"strict-match": paper, "flexible-extract": flexible}, response


def test_bbh_sports_understanding_prompt_is_v040_byte_for_byte(tmp_path):
    build_bbh_copy(tmp_path / "data")
    task = _lm_eval_task("spin-bbh", "bbh_sports_understanding", tmp_path / "data")
    for doc in list(task.test_docs())[:3]:
        assert task.fewshot_context(doc, num_fewshot=3) == V040_SPORTS.format(input=doc["input"])


@pytest.fixture(scope="module")
def bos_model(tmp_path_factory) -> Path:
    """The tiny model with a tokenizer that prepends <s> by itself, as Mistral's and Zephyr's do."""
    from tokenizers import processors
    from transformers import AutoTokenizer

    from spin.tiny.model import TinyModelSpec, build_tiny_model
    from spin.tiny.tasks import make_items

    corpus = [f"{i['prompt']} {i['answer']}" for i in make_items(300, 1)]
    path = build_tiny_model(
        tmp_path_factory.mktemp("bos"), corpus, TinyModelSpec(max_position_embeddings=2048)
    )
    tok = AutoTokenizer.from_pretrained(path)
    bos = (tok.bos_token, tok.bos_token_id)
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[bos]
    )
    tok.save_pretrained(path)
    assert AutoTokenizer.from_pretrained(path)("x").input_ids[0] == tok.bos_token_id
    return path


def _sent_tokens(monkeypatch) -> list[list[int]]:
    """Record the first token of every sequence HFLM feeds the model."""
    from lm_eval.models.huggingface import HFLM

    first: list[list[int]] = []
    call, gen = HFLM._model_call, HFLM._model_generate

    def model_call(self, inps, *a, **k):
        first.append(inps[:, 0].tolist())  # log-likelihood batches are right-padded
        return call(self, inps, *a, **k)

    def model_generate(self, context, *a, **k):
        mask = k["attention_mask"]  # generation batches are left-padded
        first.append([int(row[m.bool()][0]) for row, m in zip(context, mask, strict=True)])
        return gen(self, context, *a, **k)

    monkeypatch.setattr(HFLM, "_model_call", model_call)
    monkeypatch.setattr(HFLM, "_model_generate", model_generate)
    return first


def test_no_bos_reaches_the_model_for_the_paper_suites(tmp_path, bos_model, monkeypatch):
    """openllm-v1 (log-likelihood and GSM8K generation) and spin-bbh's OpenBookQA: the tokens
    lm-eval's hf model sends start without <s>, and the results record the setting."""
    from transformers import AutoTokenizer

    bos_id = AutoTokenizer.from_pretrained(bos_model).bos_token_id
    build_openllm_copy(tmp_path / "data")
    build_bbh_copy(tmp_path / "data")
    runs = {"openllm-v1": ["arc_challenge", "gsm8k"], "spin-bbh": ["openbookqa"]}
    for suite, tasks in runs.items():
        first = _sent_tokens(monkeypatch)
        path = evaluate(
            suite,
            str(bos_model),
            tmp_path / suite,
            model_info=MODEL_INFO,
            data_dir=tmp_path / "data",
            limit=1,
            tasks=tasks,
        )
        sent = [t for batch in first for t in batch]
        assert sent and bos_id not in sent, suite
        res = json.loads(path.read_text())
        assert res["provenance"]["add_bos_token"] is False
        assert res["provenance"]["model_args"]["add_bos_token"] is False
    # ... while 0.4.13's default (the tokenizer decides) would have sent <s> first.
    first = _sent_tokens(monkeypatch)
    evaluate(
        "tiny",
        str(bos_model),
        tmp_path / "tiny",
        model_info=MODEL_INFO,
        data_dir=_tiny_data(tmp_path),
        limit=1,
        tasks=["tiny_add"],
    )
    assert {t for batch in first for t in batch} == {bos_id}


def _tiny_data(tmp_path: Path) -> Path:
    from spin.tiny.tasks import make_items
    from tests.integration.eval_copies import write_jsonl

    write_jsonl(tmp_path / "tiny_data" / "eval.jsonl", make_items(10, 7))
    return tmp_path / "tiny_data"


@pytest.mark.vllm
def test_vllm_backend_encodes_without_bos_when_asked(bos_model):
    """lm-eval's VLLM model encodes every request through tok_encode, which honours the
    add_bos_token we pass in model_args (building the engine is not needed to check it)."""
    from lm_eval.models.vllm_causallms import VLLM
    from transformers import AutoTokenizer

    settings = harness.RunSettings(backend="vllm", add_bos_token=False).resolve()
    assert harness.model_args(str(bos_model), settings)["add_bos_token"] is False
    lm = VLLM.__new__(VLLM)
    lm.tokenizer = AutoTokenizer.from_pretrained(bos_model)
    lm.custom_prefix_token_id = None
    for bos, first_is_bos in ((False, False), (None, True)):
        lm.add_bos_token = bos
        assert (lm.tok_encode("Question: 1 + 1?")[0] == lm.tokenizer.bos_token_id) is first_is_bos


def test_results_record_stop_sequences_and_data_sha256(tmp_path, bos_model):
    """--data-dir runs name each file by resolved path and sha256; a folder without
    MANIFEST.json is warned about (and the warning kept in provenance)."""
    from spin.io import sha256_file
    from spin.report.results import validate_results

    build_openllm_copy(tmp_path / "data")
    path = evaluate(
        "openllm-v1",
        str(bos_model),
        tmp_path / "out",
        model_info=MODEL_INFO,
        data_dir=tmp_path / "data",
        limit=1,
        tasks=["gsm8k"],
    )
    res = json.loads(path.read_text())
    validate_results(res, path)
    prov = res["provenance"]
    assert prov["stop_sequences"] == {"gsm8k": ["\n\n", "Question:"]}
    test_file = tmp_path / "data" / "gsm8k" / "test.jsonl"
    assert prov["data"]["sources"]["gsm8k"]["local"]["test"] == {
        "path": str(test_file.resolve()),
        "sha256": sha256_file(test_file),
    }
    assert "MANIFEST.json" in prov["data"]["warning"]
    assert prov["tasks_selected"] == ["gsm8k"] and res["average"] is None
    assert list(res["tasks"]) == ["gsm8k"]
    assert prov["random_seeds"] == {"random_seed": 0, "numpy_seed": 1234, "torch_seed": 1234}
    assert prov["fewshot_seed"] == 1234


def test_spin_bbh_bbh_tasks_run_without_openbookqa(tmp_path, bos_model):
    """--tasks: the three BBH tasks from a folder that holds only BBH files."""
    build_bbh_copy(tmp_path / "data")
    for f in (tmp_path / "data" / "openbookqa").glob("*"):
        f.unlink()
    names = ["bbh_causal_judgement", "bbh_formal_fallacies", "bbh_sports_understanding"]
    path = evaluate(
        "spin-bbh",
        str(bos_model),
        tmp_path / "out",
        model_info=MODEL_INFO,
        data_dir=tmp_path / "data",
        limit=1,
        tasks=names,
    )
    res = json.loads(path.read_text())
    assert list(res["tasks"]) == names
    if SHARED_BBH is not None:
        real = json.loads((SHARED_BBH / "sports_understanding.json").read_text())["examples"]
        raw = [
            json.loads(line)
            for line in (tmp_path / "out" / "spin-bbh.lm_eval_samples.jsonl")
            .read_text()
            .splitlines()
        ]
        sports = [r for r in raw if r["task"] == "bbh_cot_fewshot_sports_understanding"]
        assert sports[0]["arguments"][0][0] == V040_SPORTS.format(input=real[0]["input"])


def test_mtbench_answers_sample_as_gen_model_answer(tmp_path, bos_model, monkeypatch):
    """fschat's gen_model_answer: HF generate's default top_k (50) when sampling, and one BOS
    even when the chat template writes bos_token (Mistral's) and the text is tokenised with
    special tokens."""
    import shutil

    from transformers import AutoTokenizer, GenerationMixin, TopKLogitsWarper

    from spin.eval import mtbench_answers
    from spin.generate.hf_backend import RecordSampler

    model = tmp_path / "model"
    shutil.copytree(bos_model, model)
    tok = AutoTokenizer.from_pretrained(model)
    tok.chat_template = "{{ bos_token }}" + tok.chat_template
    tok.save_pretrained(model)
    sent: list[dict] = []
    generate = GenerationMixin.generate

    def record(self, input_ids=None, **kw):
        first = [
            int(r[m.bool()][:2].tolist() == [tok.bos_token_id] * 2)
            for r, m in zip(input_ids, kw["attention_mask"], strict=True)
        ]
        # Sampling is RecordSampler's (per-record seeds, issue 12), with HF sampling's warpers.
        samplers = [p for p in kw.get("logits_processor") or [] if isinstance(p, RecordSampler)]
        top_k = next(
            (w.top_k for s in samplers for w in s.warpers if isinstance(w, TopKLogitsWarper)), None
        )
        sent.append(
            {
                "top_k": top_k,
                "do_sample": bool(samplers),
                "double_bos": sum(first),
                "first": {
                    int(r[m.bool()][0])
                    for r, m in zip(input_ids, kw["attention_mask"], strict=True)
                },
            }
        )
        return generate(self, input_ids=input_ids, **kw)

    monkeypatch.setattr(GenerationMixin, "generate", record)
    questions = [
        {"question_id": 81, "category": "writing", "turns": ["Write a poem.", "Shorter."]},
        {"question_id": 111, "category": "math", "turns": ["1 + 1?", "2 + 2?"]},
    ]
    answers = mtbench_answers.generate_answers(str(model), questions, "m", max_new_tokens=4)
    assert [len(a["choices"][0]["turns"]) for a in answers] == [2, 2]
    assert len(sent) == 4  # two temperatures x two turns
    for call in sent:
        assert call["double_bos"] == 0 and call["first"] == {tok.bos_token_id}
    assert {(c["do_sample"], c["top_k"]) for c in sent} == {(True, 50), (False, None)}
