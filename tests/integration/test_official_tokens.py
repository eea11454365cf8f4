"""Golden tests: with the real Mistral-7B tokenizer and zephyr-7b-sft-full's template, the
paper recipes' default (official) layout, as `spin inspect` prints it, equals uclaml/SPIN's
tokenisation computed by tests/integration/official_tokens.py, for ids, labels and attention
masks, on a short record, a prompt over max_prompt_length, a response over max_length and a
response that contains `</s>`."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import pytest

from spin.cli import main as spin_main
from spin.io import write_jsonl
from tests.integration.micro import ROOT
from tests.integration.official_tokens import official_generation_ids, official_sequences

SPIN_YAML = ROOT / "replication" / "spin-zephyr-7b.yaml"
TSPIN_YAML = ROOT / "replication" / "tspin-zephyr-7b.yaml"
SENTENCE = "Explain how the tides depend on the moon and the sun, with numbers. "
STORY = "The ship sailed on across the grey sea, and the crew sang old songs. "

RECORDS = {
    "short": {"prompt": "What is 2 + 2?", "real": "2 + 2 = 4.", "generated": "It is 4."},
    # ~700 prompt tokens and a ~400-token response: over 1024, so the prompt keeps its last 512
    # (and 512 + 400 fits, so the responses stay whole).
    "long_prompt": {"prompt": SENTENCE * 40, "real": STORY * 25, "generated": "No idea."},
    # ~700 prompt tokens but short responses: within 1024, so the official rule cuts nothing.
    "long_prompt_fits": {"prompt": SENTENCE * 40, "real": "Gravity.", "generated": "Tides."},
    # ~1500-token response: the prompt stays (short), responses keep 1024 - 512 tokens.
    "long_response": {"prompt": "Tell me a long story.", "real": STORY * 90, "generated": "Once."},
    "inner_eos": {"prompt": "Say hi.", "real": "Hi!</s> Bye.", "generated": "Hello</s>"},
}


@pytest.fixture(scope="module")
def tokenizer_dir():
    from spin.tokenizer import mistral_tokenizer_dir

    return mistral_tokenizer_dir("zephyr")


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tokenizer_dir))


def inspect(tmp_path, yaml, tokenizer_dir, records, *args) -> list[dict]:
    path = tmp_path / "records.jsonl"
    write_jsonl(path, records)
    out = io.StringIO()
    argv = ["inspect", str(yaml), "--records", str(path), "--tokenizer", str(tokenizer_dir)]
    with redirect_stdout(out):
        assert spin_main([*argv, *args]) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_the_tokenizer_is_mistral_7b_with_zephyr_template(tokenizer):
    assert len(tokenizer) == 32000
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id) == (1, 2)
    assert tokenizer("Hello world")["input_ids"] == [1, 22557, 1526]
    # The legacy SentencePiece "▁" after a special token: Zephyr's turn end is [2, 28705, 13].
    assert tokenizer("a</s>\n", add_special_tokens=False)["input_ids"] == [264, 2, 28705, 13]
    rendered = tokenizer.apply_chat_template(
        [{"role": "system", "content": ""}, {"role": "user", "content": "hi"}],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert rendered == "<|system|>\n</s>\n<|user|>\nhi</s>\n<|assistant|>\n"


@pytest.mark.parametrize(
    ("yaml", "arm", "roles"),
    [
        (SPIN_YAML, "spin", ("real", "generated")),
        (TSPIN_YAML, "tspin", ("real", "generated", "proto")),
    ],
)
def test_inspect_equals_the_official_tokenisation(
    tmp_path, tokenizer_dir, tokenizer, yaml, arm, roles
):
    from spin.config import load_experiment

    records = [{**r, "proto": r["generated"] + " Maybe."} for r in RECORDS.values()]
    got = inspect(tmp_path, yaml, tokenizer_dir, records, "--arm", arm, "--iteration", "1")
    cfg = load_experiment(yaml).iteration_training(arm, 1)
    assert cfg.layout == "official"  # the paper recipes' default
    for name, record, out in zip(RECORDS, records, got, strict=True):
        want = official_sequences(
            tokenizer,
            record["prompt"],
            {role: record[role] for role in roles},
            cfg.max_length,
            cfg.max_prompt_length,
        )
        assert set(out) == {"generation_input_ids", *roles}, name
        for role in roles:
            assert out[role] == want[role], (name, role)
        assert out["generation_input_ids"] == official_generation_ids(tokenizer, record["prompt"])


def test_the_records_exercise_each_rule(tmp_path, tokenizer_dir):
    outputs = inspect(tmp_path, SPIN_YAML, tokenizer_dir, list(RECORDS.values()))
    got = dict(zip(RECORDS, outputs, strict=True))

    def prompt_len(out):
        return out["real"]["labels"].count(-100)

    # No BOS anywhere: generation and training both tokenise without special tokens.
    assert all(
        o["generation_input_ids"][0] != 1 and o["real"]["input_ids"][0] != 1 for o in got.values()
    )
    assert prompt_len(got["long_prompt"]) == 512
    assert 512 + 300 < len(got["long_prompt"]["real"]["input_ids"]) <= 1024
    assert got["long_prompt"]["real"]["input_ids"][-1] == 2  # response whole, EOS appended
    assert prompt_len(got["long_prompt_fits"]) > 512  # the official rule leaves it whole
    long = got["long_response"]["real"]
    assert len(long["input_ids"]) - prompt_len(got["long_response"]) == 1024 - 512
    assert long["input_ids"][-1] != 2  # the appended EOS was cut with the response
    # Every response ends `</s>\n` + EOS: attention 0 on the template's EOS, 1 on the appended one.
    short = got["short"]["real"]
    assert short["input_ids"][-4:] == [2, 28705, 13, 2]
    assert short["attention_mask"][-4:] == [0, 1, 1, 1]
    assert short["labels"][-4:] == [2, 28705, 13, 2]  # all scored
    # The prompt's EOS tokens (empty system turn, user turn) are hidden from attention too.
    inner = got["inner_eos"]["real"]
    n = prompt_len(got["inner_eos"])
    prompt_eos = [i for i in range(n) if inner["input_ids"][i] == 2]
    assert len(prompt_eos) == 2 and all(inner["attention_mask"][i] == 0 for i in prompt_eos)
    response_eos = [i for i in range(n, len(inner["input_ids"])) if inner["input_ids"][i] == 2]
    assert len(response_eos) == 3  # "Hi!</s>", the template's "</s>", the appended one
    assert [inner["attention_mask"][i] for i in response_eos] == [0, 0, 1]


def test_the_clean_layout_differs_where_the_readme_says(tmp_path, tokenizer_dir):
    records = [RECORDS["short"], RECORDS["long_prompt_fits"]]
    official = inspect(tmp_path, SPIN_YAML, tokenizer_dir, records)
    clean = inspect(
        tmp_path,
        SPIN_YAML,
        tokenizer_dir,
        records,
        "--set",
        "training.layout=clean",
        "--set",
        "generation.layout=clean",
    )
    for o, c in zip(official, clean, strict=True):
        assert c["generation_input_ids"] == [1, *o["generation_input_ids"]]  # BOS
        assert c["real"]["input_ids"][0] == 1 and set(c["real"]["attention_mask"]) == {1}
    # Clean cuts every prompt over max_prompt_length; official only when the sequence is too long.
    # (clean counts the prompt without its BOS, which it then adds)
    assert clean[1]["real"]["labels"].count(-100) <= 513 < official[1]["real"]["labels"].count(-100)
