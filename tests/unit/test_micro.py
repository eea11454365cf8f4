"""`--micro`'s overrides (sizes only), the checks that run at load time (templates, T-SPIN on
released pairs), the chat-template fallback, and reports refusing to mix micro with real."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spin.config import load_experiment
from spin.errors import ConfigError, DataError
from spin.micro import (
    ACCELERATE_CONFIG,
    EVAL_LIMIT,
    FSDP_CONFIG,
    MAX_LENGTH,
    NUM_PROMPTS,
    ZERO3_CONFIG,
    micro_launch_config,
    micro_overrides,
)

ROOT = Path(__file__).resolve().parents[2]
REPL = ROOT / "replication"


def _micro(name: str, assets: Path):
    exp = load_experiment(REPL / name)
    return exp, load_experiment(REPL / name, micro_overrides(exp, assets))


def test_micro_keeps_everything_but_sizes(tmp_path):
    real, micro = _micro("spin-zephyr-7b.yaml", tmp_path)
    assert micro.micro and not real.micro
    assert micro.model.name_or_path == str(tmp_path.resolve() / "models" / "zephyr-7b-sft-full")
    assert micro.data.path.startswith(str(tmp_path.resolve()))
    assert (micro.data.num_prompts, micro.training.max_length) == (NUM_PROMPTS, MAX_LENGTH)
    # max_prompt_length keeps the recipe's share of max_length (512 of 1024)
    assert micro.training.max_prompt_length == MAX_LENGTH // 2
    # ZeRO-3 (zero3-8gpu.yaml) trains under DeepSpeed ZeRO-3 on two CPU processes
    assert micro.training.accelerate_config == ZERO3_CONFIG
    same = ("dtype", "revision", "from_sft")
    assert [getattr(micro.model, k) for k in same] == [getattr(real.model, k) for k in same]
    assert micro.generation.prompt_format == real.generation.prompt_format
    assert micro.training.launcher == real.training.launcher == "accelerate"
    assert micro.arms["spin"].iterations == real.arms["spin"].iterations
    # the lm-eval suites on the micro copies, a few documents per task; no GPT-4 judge here
    assert real.eval.suites == ["openllm-v1", "spin-bbh", "mt-bench"]
    assert micro.eval.suites == ["openllm-v1", "spin-bbh"]
    assert micro.eval.data_dir == str(tmp_path.resolve() / "eval")
    assert micro.eval.limit == EVAL_LIMIT and micro.eval.backend == real.eval.backend


def test_micro_launch_config_shards_what_the_recipe_shards():
    cfgs = REPL / "accelerate"
    assert micro_launch_config("replication/accelerate/zero3-8gpu.yaml") == ZERO3_CONFIG
    assert micro_launch_config(str(cfgs / "multinode-zero3.yaml")) == ZERO3_CONFIG
    assert micro_launch_config(str(cfgs / "fsdp2-8gpu.yaml")) == FSDP_CONFIG
    assert micro_launch_config(str(cfgs / "single-gpu.yaml")) == ACCELERATE_CONFIG
    with pytest.raises(ConfigError, match="accelerate_config: cannot read nope.yaml"):
        micro_launch_config("nope.yaml")


def test_micro_scales_nested_subsets_and_keeps_them_distinct(tmp_path):
    real, micro = _micro("tspin-datasize-zephyr-7b.yaml", tmp_path)
    sizes = micro.data.subset_sizes
    assert sizes == sorted(set(sizes)) and sizes[-1] == NUM_PROMPTS
    assert {a.data_subset for a in micro.arms.values()} <= set(sizes)


def test_micro_of_base_mistral_uses_the_template_less_model(tmp_path):
    _, micro = _micro("tspin-mistral-7b.yaml", tmp_path)
    assert micro.model.name_or_path.endswith("mistral-7b-v0.1")


def test_micro_refuses_a_model_it_has_no_stand_in_for(tmp_path):
    exp = load_experiment(REPL / "spin-zephyr-7b.yaml", ["model.name_or_path=org/other-7b"])
    with pytest.raises(ConfigError, match="no stand-in for 'org/other-7b'"):
        micro_overrides(exp, tmp_path)


def test_tspin_on_released_spin_iter_pairs_is_refused_at_load_time():
    with pytest.raises(ConfigError, match="spin_iter.*arm 'tspin' is T-SPIN"):
        load_experiment(REPL / "tspin-zephyr-7b.yaml", ["data.source=spin_iter"])


def test_a_broken_sft_chat_template_fails_at_load_time():
    with pytest.raises(ConfigError, match="sft.chat_template: not a usable chat template"):
        load_experiment(
            REPL / "sft-zephyr-7b.yaml", ["sft.chat_template='{% for m in messages %}'"]
        )


def test_chat_prompts_fall_back_to_zephyr_like_the_official_get_tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    from spin.prompts import format_prompt

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.chat_template = None  # as base Mistral-7B
    assert format_prompt(tok, "Hi", "chat") == "<|user|>\nHi</s>\n<|assistant|>\n"


def _results(path: Path, micro: bool) -> None:
    model = {"name": "m", "method": "spin", "base_model": "b", **({"micro": True} if micro else {})}
    path.write_text(
        json.dumps(
            {
                "schema": "spin-results/1",
                "model": model,
                "suite": "s",
                "tasks": {"t": {"value": 1.0}},
            }
        )
    )


def test_reports_refuse_to_mix_micro_and_real_results(tmp_path):
    from spin.report.results import scan

    _results(tmp_path / "a.json", micro=False)
    assert len(scan(tmp_path).results) == 1
    _results(tmp_path / "b.json", micro=True)
    with pytest.raises(DataError, match="mixes micro-run results"):
        scan(tmp_path)


def test_a_set_that_micro_would_replace_is_refused(tmp_path, capsys):
    from spin.cli import main as spin

    argv = [
        "run",
        str(REPL / "spin-zephyr-7b.yaml"),
        "--micro",
        "--dry-run",
        "--micro-assets",
        str(tmp_path),
        "--set",
        "data.num_prompts=5",
    ]
    assert spin(argv) == 2
    assert "--micro sets data.num_prompts=" in capsys.readouterr().err


def test_sft_conversations_are_rendered_as_the_alignment_handbook(tiny_model_dir):
    from transformers import AutoTokenizer

    from spin.config import SFTConfig
    from spin.train.sft import conversation_texts

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    record = {
        "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]
    }
    cfg = SFTConfig(chat_template="zephyr", empty_system_turn=True)
    [text] = conversation_texts([record], tok, cfg)["text"]
    # 61a11a5's data.py: an empty system turn first, then the Zephyr template's turns
    assert text == "<|system|>\n</s>\n<|user|>\nHi</s>\n<|assistant|>\nYo</s>\n"
    [plain] = conversation_texts([record], tok, SFTConfig(chat_template="zephyr"))["text"]
    assert plain == text.removeprefix("<|system|>\n</s>\n")


def test_eval_data_dir_reaches_the_command_and_the_key(tmp_path):
    from spin.pipeline.graph import build_graph
    from spin.pipeline.stage import StageContext

    def evals(*sets):
        exp = load_experiment(REPL / "sft-zephyr-7b.yaml", list(sets))
        return [s for s in build_graph(exp).stages if s.kind == "eval"]

    [hub], [local] = evals(), evals(f"eval.data_dir={tmp_path}")
    assert "data_dir" not in hub.params()  # unset: the keys of Hub evaluations are unchanged
    assert hub.key != local.key
    ctx = StageContext(tmp_path / "out", {"model": tmp_path}, 0)
    argv = local.argv(ctx)
    assert argv[argv.index("--data-dir") + 1] == str(tmp_path.resolve())
    assert "--data-dir" not in hub.argv(ctx)


def test_a_missing_eval_data_dir_stops_before_any_stage(tmp_path):
    from spin.pipeline.runner import run_experiment

    exp = load_experiment(REPL / "tiny.yaml", [f"eval.data_dir={tmp_path / 'nope'}"])
    with pytest.raises(ConfigError, match="eval.data_dir: .*nope is not a folder"):
        run_experiment(exp, output_dir=tmp_path / "run")
    assert not (tmp_path / "run" / "stages").exists()
