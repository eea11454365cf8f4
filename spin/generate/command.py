"""`spin generate`: responses for a prompts JSONL, batched, resumable shard by shard."""

from __future__ import annotations

HELP = (
    "Generate a response for every prompt of a JSONL file (vLLM or transformers); "
    "resumes where it stopped."
)
EXAMPLE = (
    "spin generate --model runs/tiny/seed42/checkpoints/theta0-SFT --input prompts.jsonl "
    "--output out.jsonl --backend vllm --prompt-format chat"
)


def add_arguments(p) -> None:
    from spin.config import BACKENDS, LAYOUTS, PROMPT_FORMATS

    p.add_argument("--model", required=True, help="checkpoint folder or Hub id")
    p.add_argument(
        "--input",
        required=True,
        help="JSONL with a 'prompt' field per line (other fields are kept)",
    )
    p.add_argument(
        "--output", required=True, help="JSONL to append to: each input record plus 'generated'"
    )
    p.add_argument("--backend", choices=BACKENDS, default="transformers")
    p.add_argument(
        "--prompt-format",
        choices=PROMPT_FORMATS,
        default="alpaca",
        help="alpaca (the paper's generate.py) or the model's chat template",
    )
    p.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="official",
        help="official: no BOS, replace('</s>', '').lstrip() as generate.py; clean: BOS, strip()",
    )
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=None, help="sample from the k likeliest tokens")
    p.add_argument("--batch-size", type=int, default=8, help="prompts per HF generate call")
    p.add_argument(
        "--shard-size", type=int, default=512, help="records per appended (resumable) shard"
    )
    p.add_argument(
        "--gpu-memory-utilization",
        type=float,
        default=None,
        help="vLLM; default 0.9 on GPU, 0.2 on CPU",
    )
    p.add_argument("--tensor-parallel-size", type=int, default=1)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--shard",
        metavar="K/N",
        help="only the K-th of N contiguous slices of the input (data-parallel generation)",
    )


def options(cfg, *, dtype: str, seed: int) -> list[str]:
    """The flags that make `spin generate` run with exactly `cfg` (a GenerationConfig):
    how the pipeline's data-parallel generation starts its per-GPU processes, and what
    `spin plan --commands` prints. config_from_args inverts it (tested for every field)."""
    return [
        "--backend",
        cfg.backend,
        "--prompt-format",
        cfg.prompt_format,
        "--layout",
        cfg.layout,
        "--max-new-tokens",
        str(cfg.max_new_tokens),
        "--temperature",
        repr(cfg.temperature),
        "--top-p",
        repr(cfg.top_p),
        "--batch-size",
        str(cfg.batch_size),
        "--shard-size",
        str(cfg.shard_size),
        "--gpu-memory-utilization",
        repr(cfg.gpu_memory_utilization),
        "--tensor-parallel-size",
        str(cfg.tensor_parallel_size),
        "--dtype",
        dtype,
        "--seed",
        str(seed),
        *(["--top-k", str(cfg.top_k)] if cfg.top_k is not None else []),
    ]


def config_from_args(args):
    """The GenerationConfig the parsed flags describe."""
    import torch

    from spin.config import GenerationConfig

    gpu_util = args.gpu_memory_utilization or (0.9 if torch.cuda.is_available() else 0.2)
    return GenerationConfig(
        backend=args.backend,
        prompt_format=args.prompt_format,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        batch_size=args.batch_size,
        shard_size=args.shard_size,
        gpu_memory_utilization=gpu_util,
        tensor_parallel_size=args.tensor_parallel_size,
        layout=args.layout,
    )


def main(args) -> int:
    from transformers import AutoTokenizer

    from spin.generate import generate_file, load_backend

    cfg = config_from_args(args)
    backend = load_backend(args.model, cfg, dtype=args.dtype, seed=args.seed)
    n = generate_file(
        backend,
        AutoTokenizer.from_pretrained(args.model),
        args.input,
        args.output,
        cfg,
        seed=args.seed,
        shard=args.shard,
        producer={"model": _identity(args.model), "dtype": args.dtype},
    )
    print(f"generated {n} responses -> {args.output}")
    return 0


def _identity(model: str) -> str:
    """A local checkpoint by its resolved path (however it was spelled), a Hub id as given."""
    from pathlib import Path

    return str(Path(model).resolve()) if Path(model).exists() else model
