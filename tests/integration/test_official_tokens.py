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


@pytest.fixture(scope="module")
def mistral_micro(tmp_path_factory, tokenizer_dir):
    """A randomly initialised MistralForCausalLM of a few parameters with the real tokenizer."""
    import torch
    from transformers import AutoTokenizer, MistralConfig, MistralForCausalLM

    out = tmp_path_factory.mktemp("mistral") / "model"
    torch.manual_seed(0)
    config = MistralConfig(
        vocab_size=32000,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=2048,
    )
    MistralForCausalLM(config).save_pretrained(out)
    AutoTokenizer.from_pretrained(str(tokenizer_dir)).save_pretrained(out)
    return out


@pytest.mark.parametrize("kind", ["pairs", "triplets"])
def test_the_trainers_batches_are_the_official_tokens(tmp_path, mistral_micro, tokenizer, kind):
    """What SPIN's DPOTrainer and the triplet trainer put in their batches is the official
    layout (small lengths here, so every truncation rule acts on the golden records)."""
    import torch
    from datasets import load_from_disk

    from spin.config import TrainingConfig
    from spin.train.arguments import load_for_training
    from spin.train.dataset import ROLES, build_dataset
    from spin.train.reference import reference_table
    from spin.train.spin_trainer import build_spin_trainer, dpo_config
    from spin.train.triplet import build_triplet_trainer, triplet_args

    roles = ROLES[kind]
    records = [{**r, "proto": r["generated"] + " Maybe."} for r in RECORDS.values()]
    cfg = TrainingConfig(max_length=96, max_prompt_length=48, per_device_train_batch_size=8)
    build_dataset(
        records,
        tokenizer,
        kind=kind,
        prompt_format="chat",
        max_prompt_length=48,
        out_dir=tmp_path / "data",
        layout=cfg.layout,
    )
    build, make_args = (
        (build_spin_trainer, dpo_config)
        if kind == "pairs"
        else (build_triplet_trainer, triplet_args)
    )
    args = make_args(cfg, tmp_path / "ck", 0, "float32")  # as the trainers: before the weights
    model, tok = load_for_training(str(mistral_micro), "float32", args)
    trainer = build(
        model,
        tok,
        load_from_disk(str(tmp_path / "data")),
        cfg,
        tmp_path / "ck",
        seed=0,
        dtype="float32",
        args=args,
    )
    dataset = trainer.train_dataset
    batch = trainer.data_collator([dataset[i] for i in range(len(dataset))])
    n = len(records)
    for i, record in enumerate(records):
        want = official_sequences(
            tokenizer, record["prompt"], {r: record[r] for r in roles}, 96, 48
        )
        for j, role in enumerate(roles):
            row = j * n + i
            length = len(want[role]["input_ids"])
            assert batch["input_ids"][row, :length].tolist() == want[role]["input_ids"]
            assert batch["attention_mask"][row].tolist() == want[role]["attention_mask"] + [0] * (
                batch["attention_mask"].shape[1] - length
            )
            labels = batch["input_ids"][row].masked_fill(batch["completion_mask"][row] == 0, -100)
            assert labels[:length].tolist() == want[role]["labels"]
    if kind == "pairs":  # SPIN's reference pass, which train() runs at on_train_begin
        trainer.reference_logps = reference_table(trainer, roles)
    loss = trainer.compute_loss(trainer.model, trainer._prepare_inputs(batch))
    assert torch.isfinite(loss)


def test_inspect_names_a_users_mistake_in_one_line(tmp_path, tokenizer_dir, capsys):
    path = tmp_path / "records.jsonl"
    write_jsonl(path, [{"prompt": "hi", "real": "hello"}])
    argv = ["inspect", str(SPIN_YAML), "--records", str(path), "--tokenizer", str(tokenizer_dir)]
    assert spin_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "records.jsonl" in err and "generated" in err and "\n" not in err
    assert spin_main([*argv, "--arm", "nope"]) == 2
    assert "--arm 'nope' is not an arm" in capsys.readouterr().err
