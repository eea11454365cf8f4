"""MT-Bench answers are prompted as fschat's gen_model_answer prompts them: FastChat's
conversation template for the model id (from fastchat itself, in .venv-judge), tokenised with
BOS, cut at the template's stop string. Skips without the judge venv."""

from __future__ import annotations

import json
import subprocess

import pytest

from spin.eval.fastchat_prompts import FastChatTemplates
from spin.eval.judge import JudgeConfig, judge_venv_available

pytestmark = pytest.mark.skipif(
    not judge_venv_available(), reason="no .venv-judge (scripts/install.sh --judge)"
)

ZEPHYR_ID = "zephyr-7b-sft-full-SPIN-iter0"
Q1, A1, Q2 = "Compose a haiku about tea.", "Steam rises, leaves unfurl.", "Now one about coffee."

# gen_model_answer's own lines (fschat 0.2.36, llm_judge/gen_model_answer.py), run in the
# judge venv: the reference our renderer must equal.
GEN_MODEL_ANSWER = """
import json, sys
from fastchat.model import get_conversation_template
model_id, q1, a1, q2 = sys.argv[1:]
conv = get_conversation_template(model_id)
conv.append_message(conv.roles[0], q1)
conv.append_message(conv.roles[1], None)
p1 = conv.get_prompt()
conv.update_last_message(a1)
conv.append_message(conv.roles[0], q2)
conv.append_message(conv.roles[1], None)
print(json.dumps([p1, conv.get_prompt()]))
"""


def _fastchat_reference(model_id: str) -> list[str]:
    out = subprocess.run(
        [str(JudgeConfig().python_path()), "-c", GEN_MODEL_ANSWER, model_id, Q1, A1, Q2],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def templates():
    with FastChatTemplates(JudgeConfig().python_path()) as t:
        yield t


def test_zephyr_prompt_equals_fastchats_token_for_token(templates):
    from spin.prompts import generation_input_ids
    from spin.tokenizer import mistral_tokenizer

    rendered = templates.render(ZEPHYR_ID, [[Q1], [Q1, A1, Q2]])
    assert rendered.template == "zephyr"
    assert rendered.prompts == _fastchat_reference(ZEPHYR_ID)
    # FastChat's zephyr template, read off conversation.py: an empty system turn first.
    assert rendered.prompts == [
        f"<|system|>\n</s>\n<|user|>\n{Q1}</s>\n<|assistant|>\n",
        f"<|system|>\n</s>\n<|user|>\n{Q1}</s>\n<|assistant|>\n{A1}</s>\n<|user|>\n{Q2}</s>\n"
        "<|assistant|>\n",
    ]
    assert rendered.stop_str == "</s>" and rendered.stop_token_ids == [2]
    # Tokenised as gen_model_answer does (tokenizer([prompt]), special tokens on) and as our
    # backends submit it: one BOS, then the text, each "</s>" the EOS token.
    tok = mistral_tokenizer("zephyr")
    ours = generation_input_ids(tok, rendered.prompts, "clean")["input_ids"]
    theirs = tok(_fastchat_reference(ZEPHYR_ID)).input_ids
    assert ours == theirs
    assert [ids[0] for ids in ours] == [1, 1] and [ids.count(2) for ids in ours] == [2, 4]


def test_an_id_fastchat_does_not_know_gets_its_one_shot_template(templates):
    rendered = templates.render("my-model", [[Q1], [Q1, A1, Q2]])
    assert rendered.template == "one_shot" and rendered.stop_str == "###"
    assert rendered.prompts == _fastchat_reference("my-model")


def test_answers_come_from_fastchats_prompts(tmp_path, tiny_model_dir, monkeypatch, capsys):
    """The prompts the backend receives are FastChat's; the cleaned turn-1 answer goes into
    turn 2, as update_last_message does; provenance names the template."""
    from spin.eval import mtbench_answers
    from spin.generate.hf_backend import HFBackend

    sent: list[list[str]] = []

    def generate(self, texts, seeds):
        sent.append(list(texts))
        return [f" answer {len(sent)}</s>ignored" for _ in texts]

    monkeypatch.setattr(HFBackend, "generate", generate)
    questions = [{"question_id": 81, "category": "writing", "turns": [Q1, Q2]}]
    model_id, gen, path, answers = mtbench_answers.model_answers(
        str(tiny_model_dir),
        questions,
        tmp_path,
        model_info={"name": "tiny"},
        backend="hf",
        seed=0,
        max_new_tokens=4,
        batch_size=None,
        dtype=None,
        prompt="fastchat",
        fastchat_model_id="zephyr-tiny",
        judge_python=JudgeConfig().python_path(),
    )
    assert gen["fastchat_template"] == "zephyr" and gen["fastchat_model_id"] == "zephyr-tiny"
    assert answers[0]["choices"][0]["turns"] == ["answer 1", "answer 2"]
    assert sent == [
        [f"<|system|>\n</s>\n<|user|>\n{Q1}</s>\n<|assistant|>\n"],
        [
            f"<|system|>\n</s>\n<|user|>\n{Q1}</s>\n<|assistant|>\nanswer 1</s>\n"
            f"<|user|>\n{Q2}</s>\n<|assistant|>\n"
        ],
    ]
    assert model_id == "tiny" and path.exists()
    # An id FastChat does not know: its fallback, with a warning naming the setting.
    mtbench_answers.model_answers(
        str(tiny_model_dir),
        questions,
        tmp_path,
        model_info={"name": "tiny"},
        backend="hf",
        seed=0,
        max_new_tokens=4,
        batch_size=None,
        dtype=None,
        prompt="fastchat",
        fastchat_model_id=None,
        judge_python=JudgeConfig().python_path(),
    )
    assert "--fastchat-model-id" in capsys.readouterr().err
    assert sent[-1][0].startswith("A chat between a curious human")
