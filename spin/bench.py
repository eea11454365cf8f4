"""`spin bench`: speed measured side by side in one process, printed as ratios.

Generation: the vLLM backend against HF `generate` with batch 8 and greedy decoding (the
official generate.py path), on the same prompts, with vLLM's engine start-up reported
apart. Training: our SPIN run (reference log-probs from one pass before training, the pass
counted) against the same run with a resident reference model (how the official trainer
runs), per step and end to end at 1 and 2 epochs, checking that both give the same
losses; and the T-SPIN step (three sequences, no reference) against SPIN's, with β > 0
and with β = 0 (two sequences).
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

HELP = "Measure generation and training speed on the tiny model; prints ratios against baselines."
EXAMPLE = "spin bench --output reports/bench.json"


def add_arguments(p) -> None:
    p.add_argument("--prompts", type=int, default=256, help="prompts for the generation benchmark")
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument(
        "--pairs", type=int, default=256, help="training examples for the step benchmarks"
    )
    p.add_argument(
        "--train-hidden",
        type=int,
        default=512,
        help="width of the model for the step benchmarks (~13M parameters at 512 x 4 layers)",
    )
    p.add_argument("--train-layers", type=int, default=4)
    p.add_argument("--skip-vllm", action="store_true", help="only the training benchmarks")
    p.add_argument("--workdir", default="runs/bench", help="where the tiny model and datasets go")
    p.add_argument("--output", help="also write the measurements as JSON")


def _tiny_model(workdir: Path, name: str = "model", hidden: int = 128, layers: int = 2) -> Path:
    from spin.tiny.model import TinyModelSpec, build_tiny_model
    from spin.tiny.tasks import make_items

    model = workdir / name
    if not (model / "config.json").exists():
        items = make_items(2000, seed=0)
        spec = TinyModelSpec(
            hidden_size=hidden,
            intermediate_size=2 * hidden,
            num_hidden_layers=layers,
            num_attention_heads=hidden // 64,
        )
        build_tiny_model(model, [f"{i['prompt']} {i['answer']}" for i in items], spec)
    return model


def bench_generation(model: Path, n_prompts: int, new_tokens: int, skip_vllm: bool) -> dict:
    from transformers import AutoTokenizer

    from spin.config import GenerationConfig
    from spin.generate.hf_backend import HFBackend
    from spin.prompts import format_prompt
    from spin.tiny.tasks import make_items

    tok = AutoTokenizer.from_pretrained(model)
    texts = [format_prompt(tok, i["prompt"], "chat") for i in make_items(n_prompts, seed=1)]
    seeds = list(range(n_prompts))
    # min_new_tokens keeps every output at exactly new_tokens, so tokens/s compare like for like
    cfg = GenerationConfig(
        backend="transformers", prompt_format="chat", max_new_tokens=new_tokens, batch_size=8
    )
    hf = HFBackend(str(model), cfg)
    hf.model.generation_config.min_new_tokens = new_tokens
    start = time.perf_counter()
    hf.generate(texts, seeds)
    hf_s = time.perf_counter() - start
    out = {
        "prompts": n_prompts,
        "new_tokens": new_tokens,
        "hf_batch8_tokens_per_s": n_prompts * new_tokens / hf_s,
    }
    del hf
    if skip_vllm:
        return out
    from vllm import SamplingParams

    from spin.generate.vllm_backend import VLLMBackend

    vcfg = GenerationConfig(backend="vllm", max_new_tokens=new_tokens, gpu_memory_utilization=0.2)
    engine = VLLMBackend(str(model), vcfg)
    params = SamplingParams(
        temperature=0.0, max_tokens=new_tokens, min_tokens=new_tokens, ignore_eos=True
    )
    start = time.perf_counter()
    engine.llm.generate(texts, params, use_tqdm=False)
    v_s = time.perf_counter() - start
    engine.close()  # before the training benchmarks: its workers would share their cores
    out.update(
        vllm_startup_s=engine.startup_s,
        vllm_tokens_per_s=n_prompts * new_tokens / v_s,
    )
    out["vllm_speedup"] = out["vllm_tokens_per_s"] / out["hf_batch8_tokens_per_s"]
    return out


def _datasets(model: Path, workdir: Path, n: int) -> tuple[Path, Path]:
    from transformers import AutoTokenizer

    from spin.tiny.tasks import make_items
    from spin.train.dataset import build_dataset

    tok = AutoTokenizer.from_pretrained(model)
    items = make_items(n, seed=2)
    records = [
        {
            "prompt": i["prompt"],
            # responses of ~50 tokens, so the step is compute-bound rather than overhead-bound
            "real": " ".join([i["answer"]] * 12),
            "generated": " ".join([i["answer"][::-1]] * 12),
            "proto": " ".join(["1 2 3"] * 8),
        }
        for i in items
    ]
    pairs, triplets = workdir / f"pairs{n}-{model.name}", workdir / f"triplets{n}-{model.name}"
    for kind, path in (("pairs", pairs), ("triplets", triplets)):
        if not path.exists():
            build_dataset(
                records, tok, kind=kind, prompt_format="chat", max_prompt_length=64, out_dir=path
            )
    return pairs, triplets


def bench_training(model: Path, workdir: Path, n: int) -> dict:
    """Four runs of 2 epochs each (the paper's), every one built and timed the same way
    (loads, tokenisation and any reference pass as set-up; each epoch to its end): SPIN
    with the precomputed reference (train_spin's SPINTrainer) against the resident
    reference (how the official trainer runs), then T-SPIN with β > 0 and with β = 0."""
    import torch
    from datasets import load_from_disk
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOTrainer

    from spin.config import TrainingConfig
    from spin.train.arguments import load_for_training
    from spin.train.spin_trainer import build_spin_trainer, dpo_config
    from spin.train.triplet import build_triplet_trainer, triplet_args

    pairs, triplets = _datasets(model, workdir, n)
    cfg = TrainingConfig(
        learning_rate=1e-4,
        num_train_epochs=2,
        per_device_train_batch_size=8,
        max_length=128,
        max_prompt_length=64,
        logging_steps=4,
        save_steps=10**6,
        layout="clean",  # the tiny model's format, as replication/tiny.yaml
    )

    def spin_resident(out: Path):
        # the official trainer's way: TRL's tokens (the clean layout's) and a resident ref
        args = dpo_config(cfg, out, seed=0, dtype="float32")
        args.precompute_ref_log_probs = False
        policy = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)
        ref = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)
        return DPOTrainer(
            model=policy,
            ref_model=ref,
            args=args,
            train_dataset=load_from_disk(str(pairs)),
            processing_class=AutoTokenizer.from_pretrained(model),
        )

    def spin_precomputed(out: Path):  # as train_spin builds it
        args = dpo_config(cfg, out, seed=0, dtype="float32")
        policy, tok = load_for_training(str(model), "float32", args)
        data = load_from_disk(str(pairs))
        return build_spin_trainer(policy, tok, data, cfg, out, seed=0, dtype="float32", args=args)

    def tspin(beta: float):
        def build(out: Path):  # as train_tspin builds it
            c = replace(cfg, beta=beta)
            args = triplet_args(c, out, seed=0, dtype="float32")
            policy, tok = load_for_training(str(model), "float32", args)
            data = load_from_disk(str(triplets))
            return build_triplet_trainer(
                policy, tok, data, c, out, seed=0, dtype="float32", args=args
            )

        return build

    runs = {
        "resident_reference": spin_resident,
        "precomputed_reference": spin_precomputed,
        "tspin": tspin(cfg.beta),
        # β = 0 (T-SPIN iteration 0, tspin_noha) runs y and y′ only: it should cost a SPIN step
        "tspin_beta0": tspin(0.0),
    }
    out: dict = {"examples": n, "epochs": cfg.num_train_epochs}
    losses = {}
    for name, build in runs.items():
        out[name], losses[name] = _timed_run(build, workdir / f"ckpt-{name}", n)
    res, pre = out["resident_reference"], out["precomputed_reference"]
    out["spin_step_speedup"] = pre["examples_per_s"] / res["examples_per_s"]
    for e in range(1, cfg.num_train_epochs + 1):
        key = f"end_to_end_{e}_epoch_s"
        out[f"spin_end_to_end_speedup_{e}_epoch"] = res[key] / pre[key]
    a, b = losses["resident_reference"], losses["precomputed_reference"]
    out["max_loss_difference"] = max(abs(x - y) for x, y in zip(a, b, strict=True))
    for name in ("tspin", "tspin_beta0"):
        out[f"{name}_time_per_example_vs_spin"] = (
            pre["examples_per_s"] / out[name]["examples_per_s"]
        )
    return out


def _timed_run(build, out_dir: Path, n: int) -> tuple[dict, list[float]]:
    """Build a trainer (the set-up) and train it, timing each epoch to its end; returns the
    timings and the logged losses."""
    import torch
    from transformers import TrainerCallback

    class EpochClock(TrainerCallback):
        def __init__(self):
            self.ends: list[float] = []

        def on_epoch_end(self, args, state, control, **kwargs):
            self.ends.append(time.perf_counter())

    torch.manual_seed(0)
    start = time.perf_counter()
    trainer = build(out_dir)
    setup_s = time.perf_counter() - start  # loads, tokenisation and any reference pass
    clock = EpochClock()
    trainer.add_callback(clock)
    train_start = time.perf_counter()
    trainer.train()
    epoch_s = [b - a for a, b in zip([train_start, *clock.ends], clock.ends, strict=False)]
    timings = {
        "setup_s": setup_s,
        "epoch_s": epoch_s,
        "examples_per_s": n * len(epoch_s) / sum(epoch_s),
        **{
            f"end_to_end_{e}_epoch_s": setup_s + end - train_start
            for e, end in enumerate(clock.ends, start=1)
        },
    }
    return timings, [h["loss"] for h in trainer.state.log_history if "loss" in h]


def main(args) -> int:
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    model = _tiny_model(workdir)
    results = {
        "generation": bench_generation(model, args.prompts, args.new_tokens, args.skip_vllm),
        "training": bench_training(
            _tiny_model(
                workdir,
                f"model-{args.train_hidden}x{args.train_layers}",
                args.train_hidden,
                args.train_layers,
            ),
            workdir,
            args.pairs,
        ),
    }
    g, t = results["generation"], results["training"]
    print(
        f"\n== generation (tiny Mistral, greedy, {g['prompts']} prompts x "
        f"{g['new_tokens']} new tokens)"
    )
    print(f"HF generate, batch 8 (official path): {g['hf_batch8_tokens_per_s']:10.0f} tokens/s")
    if "vllm_tokens_per_s" in g:
        print(
            f"vLLM backend:                         {g['vllm_tokens_per_s']:10.0f} tokens/s  "
            f"({g['vllm_speedup']:.2f}x; engine start-up {g['vllm_startup_s']:.1f} s, not included)"
        )
    print(
        f"\n== SPIN training step ({t['examples']} pairs of ~50-token responses, batch 8, "
        f"Mistral {args.train_hidden} wide x {args.train_layers} layers)"
    )
    for name in ("resident_reference", "precomputed_reference"):
        r = t[name]
        print(
            f"{name:22}: {r['examples_per_s']:7.1f} examples/s in steps; "
            f"set-up {r['setup_s']:.1f} s; end to end {r['end_to_end_1_epoch_s']:.1f} s "
            f"at 1 epoch, {r['end_to_end_2_epoch_s']:.1f} s at 2"
        )
    print(
        f"precomputed vs resident reference: {t['spin_step_speedup']:.2f}x per step, "
        f"end to end {t['spin_end_to_end_speedup_1_epoch']:.2f}x at 1 epoch and "
        f"{t['spin_end_to_end_speedup_2_epoch']:.2f}x at 2 (target >= 1.25x); "
        f"max |loss difference| {t['max_loss_difference']:.2e}"
    )
    print(
        f"T-SPIN step: {t['tspin']['examples_per_s']:.1f} examples/s in steps; time per example "
        f"{t['tspin_time_per_example_vs_spin']:.2f}x SPIN's (target <= 1.6x)"
    )
    print(
        f"T-SPIN step with beta = 0 (y0 not run): {t['tspin_beta0']['examples_per_s']:.1f} "
        f"examples/s in steps; time per example "
        f"{t['tspin_beta0_time_per_example_vs_spin']:.2f}x SPIN's (target <= 1.05x)"
    )
    if args.output:
        from spin.io import write_json

        write_json(args.output, results)
    print(json.dumps(results, indent=1) if not args.output else f"\nwritten: {args.output}")
    return 0
