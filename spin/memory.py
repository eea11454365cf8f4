"""Memory estimates: peak bytes per GPU of a training or generation stage, before it runs.

Training, per GPU, for P parameters sharded over W ranks (W = 1 unless ZeRO-3 or FSDP):
- weights, gradients, master weights and optimizer state, by strategy:
  - ZeRO-3, bf16 (DeepSpeed's bf16 optimizer): bf16 weights 2P/W, bf16 gradients 2P/W,
    fp32 master weights 4P/W, fp32 optimizer state 4·k·P/W; offload moves the master and
    the optimizer state (offload_optimizer) or the weights too (offload_param) to the host;
  - FSDP2 with mixed precision: accelerate upcasts the weights to fp32 (fsdp_utils), so
    4P/W weights (the master), 4P/W gradients, 4·k·P/W optimizer state;
  - DDP or one GPU: whole copies. With mixed precision the trainers load fp32 weights and
    train under bf16 autocast (spin.train.arguments.weights_dtype: pure bf16 weights lose
    the updates), so 4P weights, 4P gradients, 4·k·P optimizer state; without it, b bytes
    (the weights' dtype) each; autocast also keeps a bf16 copy of every weight from the
    forward to the backward (e·P: an upper bound, as the backward frees them while the
    gradients grow);
  k = 1 for RMSProp (square_avg; the recipes' momentum is 0), 2 for AdamW;
- sharded strategies gather parameters per layer for compute: 2 layers (current and
  prefetched) or the embedding matrix, whichever is larger, in the compute dtype;
- activations for T = per-device batch × sequences per example (2 pairs, 3 triplets) ×
  max_length tokens, e bytes per compute element, per decoder layer and token, in HF's
  Llama/Mistral layer with SDPA attention: 8d (two RMSNorms keep their fp32 input) +
  e·(11d + 2·d_kv + 4·d_ff) (norm outputs, q/k/v and their rotary inputs, attention
  output, MLP input, gate, SiLU, up and their product). Without gradient checkpointing all
  L layers keep theirs; with it, each layer keeps only its input (e·d per token) and one
  layer is recomputed at a time. Logits: T·V·(e + 8) (the logits, their fp32 copy and
  log-softmax), or T·V·8 in fp32;
- a fixed CUDA context and allocator reserve (CUDA_RESERVE).

Generation: HF keeps the weights (b·P) and a KV cache of batch × (prompt + new tokens) ×
L × 2·d_kv × e; vLLM reserves gpu_memory_utilization of the GPU and fits the weights,
its profiling pass's activations and the KV cache inside it.

Host memory per rank, from the loading path (not measured here): under ZeRO-3 the
TrainingArguments exist before from_pretrained, so zero.Init partitions each weight as it
loads and a rank holds b·P/W (plus the checkpoint file being read, mmap-shared between
ranks); FSDP2 with fsdp_cpu_ram_efficient_loading loads 4P on rank 0 only; DDP and one GPU
load 4P (fp32, mixed precision) or b·P on every rank.

Pure functions, no torch: `spin plan` imports this on any machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

GIB = 1024**3
MIB = 1024**2

# Memory per GPU as nvidia-smi reports it (MiB).
GPU_MEMORY: dict[str, int] = {
    "a100-40gb": 40960 * MIB,
    "a100-80gb": 81920 * MIB,
    "h100-80gb": 81559 * MIB,
    "h200": 143771 * MIB,
}
CUDA_RESERVE = 1 * GIB
"""CUDA context, cuBLAS/NCCL workspaces and allocator fragmentation: an assumption."""

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
OPTIMIZER_STATES = {"rmsprop": 1, "adamw_torch": 2, "adamw_torch_fused": 2, "sgd": 0}


@dataclass(frozen=True)
class Architecture:
    """A Llama/Mistral-style decoder: what the memory formula needs."""

    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    intermediate_size: int
    vocab_size: int
    tie_embeddings: bool = False

    @property
    def kv_dim(self) -> int:
        return self.hidden_size // self.num_heads * self.num_kv_heads

    @property
    def layer_params(self) -> int:
        d = self.hidden_size
        return 2 * d * d + 2 * d * self.kv_dim + 3 * d * self.intermediate_size + 2 * d

    @property
    def n_params(self) -> int:
        embed = self.vocab_size * self.hidden_size
        final_norm = self.hidden_size
        return (
            self.num_layers * self.layer_params
            + embed * (1 if self.tie_embeddings else 2)
            + final_norm
        )

    @classmethod
    def from_hf_config(cls, cfg: dict) -> Architecture:
        """From a transformers config.json (Llama, Mistral, Qwen2 and the like)."""
        return cls(
            hidden_size=cfg["hidden_size"],
            num_layers=cfg["num_hidden_layers"],
            num_heads=cfg["num_attention_heads"],
            num_kv_heads=cfg.get("num_key_value_heads") or cfg["num_attention_heads"],
            intermediate_size=cfg["intermediate_size"],
            vocab_size=cfg["vocab_size"],
            tie_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        )


# Mistral-7B-v0.1's config.json (zephyr-7b-sft-full is a fine-tune of it).
MISTRAL_7B = Architecture(4096, 32, 32, 8, 14336, 32000)
KNOWN_ARCHITECTURES = {
    "alignment-handbook/zephyr-7b-sft-full": MISTRAL_7B,
    "mistralai/Mistral-7B-v0.1": MISTRAL_7B,
}


@dataclass(frozen=True)
class Strategy:
    """How an accelerate config places a training stage's state."""

    kind: str
    """zero3 | fsdp | ddp | single."""
    world_size: int
    mixed_precision: str = "bf16"
    offload_optimizer: bool = False
    offload_params: bool = False

    @property
    def sharded(self) -> bool:
        return self.kind in ("zero3", "fsdp")

    def describe(self) -> str:
        off = [
            n
            for n, on in (("optimizer", self.offload_optimizer), ("params", self.offload_params))
            if on
        ]
        extra = f", offload {'+'.join(off)} to CPU" if off else ""
        precision = f"mixed precision {self.mixed_precision}"
        return f"{self.kind} over {self.world_size} GPU(s), {precision}{extra}"


def strategy_from_accelerate(config: dict, n_gpus: int) -> Strategy:
    """The Strategy an accelerate YAML (already parsed) describes, on n_gpus processes."""
    kind = str(config.get("distributed_type", "NO")).upper()
    mp = str(config.get("mixed_precision", "no"))
    if kind == "DEEPSPEED":
        ds = config.get("deepspeed_config") or {}
        if int(ds.get("zero_stage", 0)) != 3:
            raise ValueError(f"only ZeRO stage 3 is modelled, got {ds.get('zero_stage')}")
        return Strategy(
            "zero3",
            n_gpus,
            mp,
            offload_optimizer=ds.get("offload_optimizer_device", "none") not in ("none", None),
            offload_params=ds.get("offload_param_device", "none") not in ("none", None),
        )
    if kind == "FSDP":
        fsdp = config.get("fsdp_config") or {}
        return Strategy("fsdp", n_gpus, mp, offload_params=bool(fsdp.get("fsdp_offload_params")))
    return Strategy("ddp" if n_gpus > 1 else "single", n_gpus, mp)


@dataclass(frozen=True)
class TrainingShape:
    """What a training stage's memory depends on."""

    per_device_batch: int
    sequences_per_example: int
    max_length: int
    gradient_checkpointing: bool
    optimizer: str = "rmsprop"
    dtype: str = "bfloat16"
    gradient_accumulation: int = 1


@dataclass
class Estimate:
    """Peak bytes per GPU, by component, and whether they fit."""

    components: dict[str, float]
    capacity: float
    host_per_rank: float = 0.0
    """Host RAM each training rank needs to load the checkpoint."""
    ranks: int = 1
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(self.components.values())

    @property
    def fits(self) -> bool:
        return self.total <= self.capacity


def compute_bytes(strategy: Strategy, dtype: str) -> int:
    """Bytes per element of the forward/backward pass: bf16 autocast or the weights' dtype."""
    if strategy.mixed_precision in ("bf16", "fp16"):
        return 2
    return DTYPE_BYTES[dtype]


def activation_bytes_per_token_layer(arch: Architecture, e: int) -> int:
    """Saved-for-backward bytes of one decoder layer per token (the module docstring)."""
    d = arch.hidden_size
    return 8 * d + e * (11 * d + 2 * arch.kv_dim + 4 * arch.intermediate_size)


def training_activations(arch: Architecture, shape: TrainingShape, e: int) -> dict[str, float]:
    tokens = shape.per_device_batch * shape.sequences_per_example * shape.max_length
    per_layer = activation_bytes_per_token_layer(arch, e)
    if shape.gradient_checkpointing:
        layers = tokens * (arch.num_layers * e * arch.hidden_size + per_layer)
    else:
        layers = tokens * arch.num_layers * per_layer
    logits = tokens * arch.vocab_size * (2 * e if e == 4 else 3 * e)
    return {"activations": layers, "logits": logits}


def training_memory(
    arch: Architecture,
    shape: TrainingShape,
    strategy: Strategy,
    capacity: float,
    *,
    n_params: float | None = None,
    reserve: float = CUDA_RESERVE,
) -> Estimate:
    """Peak bytes per GPU of one training stage (the module docstring's formula)."""
    p = float(n_params or arch.n_params)
    w = strategy.world_size if strategy.sharded else 1
    b = DTYPE_BYTES[shape.dtype]
    e = compute_bytes(strategy, shape.dtype)
    try:
        k = OPTIMIZER_STATES[shape.optimizer]
    except KeyError:
        raise ValueError(
            f"unknown optimizer {shape.optimizer!r}; known: {sorted(OPTIMIZER_STATES)}"
        ) from None
    c: dict[str, float] = {}
    if strategy.kind == "zero3":
        # bf16: DeepSpeed casts the model to bf16 and keeps an fp32 master for the optimizer
        master = 4 if strategy.mixed_precision != "no" and e < 4 else 0
        c["weights"] = 0.0 if strategy.offload_params else e * p / w
        c["gradients"] = e * p / w
        on_gpu = not strategy.offload_optimizer
        c["master weights (fp32)"] = master * p / w if on_gpu else 0.0
        c["optimizer state"] = 4 * k * p / w if on_gpu else 0.0
    elif strategy.kind == "fsdp":
        master = 4 if strategy.mixed_precision != "no" else b
        c["weights"] = 0.0 if strategy.offload_params else master * p / w
        c["gradients"] = 0.0 if strategy.offload_params else master * p / w
        c["optimizer state"] = 0.0 if strategy.offload_params else master * k * p / w
    else:
        master = 4 if strategy.mixed_precision != "no" else b
        c["weights"] = master * p
        c["gradients"] = master * p
        c["optimizer state"] = master * k * p
        if e < master:
            c["bf16 weight copies (autocast)"] = e * p
    if strategy.sharded:
        c["gathered parameters"] = e * max(
            2 * arch.layer_params, arch.vocab_size * arch.hidden_size
        )
    c.update(training_activations(arch, shape, e))
    c["CUDA context and reserve"] = reserve
    return Estimate(
        c, capacity, host_per_rank=host_per_rank(p, b, strategy), ranks=strategy.world_size
    )


def host_per_rank(p: float, b: int, strategy: Strategy) -> float:
    """Host bytes the busiest rank needs to load the weights (the module docstring)."""
    if strategy.kind == "zero3":
        return b * p / strategy.world_size
    return (4 if strategy.mixed_precision != "no" else b) * p


def generation_memory(
    arch: Architecture,
    *,
    backend: str,
    batch_size: int,
    prompt_tokens: int,
    new_tokens: int,
    dtype: str,
    capacity: float,
    gpu_memory_utilization: float = 0.9,
    tensor_parallel_size: int = 1,
    n_params: float | None = None,
    reserve: float = CUDA_RESERVE,
) -> Estimate:
    """Peak bytes per GPU of one generation process (HF generate or one vLLM engine)."""
    p = float(n_params or arch.n_params) / tensor_parallel_size
    b = DTYPE_BYTES[dtype]
    seq = prompt_tokens + new_tokens
    kv_per_token = arch.num_layers * 2 * arch.kv_dim * b / tensor_parallel_size
    c: dict[str, float] = {"weights": b * p}
    notes = []
    if backend == "vllm":
        # vLLM's profiling pass: one batch of max_num_batched_tokens (8192 by default)
        # through one layer's MLP, plus the logits of max_num_seqs (256) sequences.
        c["activations (profiling pass)"] = (
            8192 * b * (arch.hidden_size + 2 * arch.intermediate_size) + 256 * arch.vocab_size * 4
        )
        budget = gpu_memory_utilization * capacity
        kv = budget - c["weights"] - c["activations (profiling pass)"]
        c["KV cache"] = max(kv, 0.0)
        c["CUDA context and reserve"] = reserve
        est = Estimate(c, capacity)
        tokens = int(max(kv, 0) // kv_per_token)
        notes.append(
            f"KV cache {kv / GIB:.1f} GiB = {tokens:,} tokens = {tokens // max(seq, 1):,} "
            f"concurrent sequences of {seq} tokens"
        )
        if kv < kv_per_token * seq:
            est.components["KV cache"] = kv_per_token * seq  # one sequence must fit
        if budget + reserve > capacity:
            notes.append(
                f"gpu_memory_utilization {gpu_memory_utilization} leaves less than the reserve"
            )
        est.notes = notes
        return est
    c["KV cache"] = batch_size * seq * kv_per_token
    c["logits"] = batch_size * arch.vocab_size * 4 * 2  # one step's logits and their softmax
    c["activations"] = (
        batch_size * prompt_tokens * b * (arch.hidden_size + 2 * arch.intermediate_size)
    )
    c["CUDA context and reserve"] = reserve
    return Estimate(c, capacity, notes=notes)


def smallest_fix(
    arch: Architecture,
    shape: TrainingShape,
    strategy: Strategy,
    capacity: float,
    *,
    n_params: float | None = None,
) -> tuple[str, Estimate] | None:
    """The first change, in order of cost, that makes a training stage fit: gradient
    checkpointing; then a smaller per-device batch with more accumulation (same global
    batch); then ZeRO-3 instead of an unsharded strategy; then ZeRO-3 offload of the
    optimizer, then of the parameters. None if nothing does."""

    def fits(s, st):
        est = training_memory(arch, s, st, capacity, n_params=n_params)
        return est if est.fits else None

    shapes: list[tuple[str, TrainingShape]] = []
    gc = replace(shape, gradient_checkpointing=True)
    if not shape.gradient_checkpointing:
        shapes.append(("turn on gradient checkpointing (training.gradient_checkpointing=true)", gc))
    else:
        shapes.append(("", gc))
    batch, acc = shape.per_device_batch, shape.gradient_accumulation
    while batch > 1:
        batch, acc = batch // 2, acc * 2
        shapes.append(
            (
                f"gradient checkpointing, per_device_train_batch_size={batch} and "
                f"gradient_accumulation_steps={acc} (same global batch)",
                replace(gc, per_device_batch=batch, gradient_accumulation=acc),
            )
        )
    z3 = (
        strategy
        if strategy.kind == "zero3"
        else Strategy("zero3", strategy.world_size, strategy.mixed_precision)
    )
    strategies = [("", strategy)]
    if not strategy.sharded and strategy.world_size > 1:
        strategies.append(("shard with ZeRO-3 (replication/accelerate/zero3-8gpu.yaml)", z3))
    strategies += [
        (
            "ZeRO-3 with the optimizer offloaded to CPU (offload_optimizer_device: cpu)",
            replace(z3, offload_optimizer=True),
        ),
        (
            "ZeRO-3 with optimizer and parameters offloaded to CPU (offload_param_device: cpu)",
            replace(z3, offload_optimizer=True, offload_params=True),
        ),
    ]
    # cheapest first: a new strategy costs more than a smaller batch
    candidates = [
        ("; ".join(x for x in (s_label, b_label) if x), s, st)
        for s_label, st in strategies
        for b_label, s in shapes
        if s_label or b_label
    ]
    for label, s, st in candidates:
        est = fits(s, st)
        if est is not None:
            return label, est
    return None
