"""`spin bench`: speed measured side by side in one process, printed as ratios.

Generation: the vLLM backend against HF `generate` with batch 8 and greedy decoding (the
official generate.py path), on the same prompts, with vLLM's engine start-up reported
apart. Training: our SPIN run (reference log-probs from one pass before training, the pass
counted) against the same run with a resident reference model (how the official trainer
runs), per step and end to end at 1 and 2 epochs, checking that both give the same
losses; and the T-SPIN step (three sequences, no reference) against SPIN's, with β > 0
and with β = 0 (two sequences). The reference pass is set against the reference forwards it
saves, beside two cheaper sources of the same log-probs: vLLM scoring the same tokens, and
the generation pass itself, for the y′ whose trainer tokens are the generated ones.

The training arms are interleaved so that machine load hits them alike (run one after the
other, the same code gave 1.44x or 2.72x per step depending on what else ran): their
trainers are built in turns, then trained in one process in turns of one optimizer step
(--block-steps) on the same batches, and each ratio is the median of its per-round values,
reported with a 95% interval for that median, the rounds' min and max, and the ratio of
the totals (see bench_training).
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
    p.add_argument(
        "--block-steps",
        type=int,
        default=1,
        help="optimizer steps each training arm runs per turn (a round = one turn of each arm)",
    )
    p.add_argument(
        "--builds", type=int, default=3, help="times each arm's trainer is built (set-up: median)"
    )
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


def generation_reuse(model: Path, n: int, new_tokens: int) -> dict:
    """Could the reference log-probs of y′ come out of the generation pass (the generator is
    θt)? Only where the trainer scores y′ on the very tokens, in the very context, that
    generated it. Per layout and decoding (the generate stage's HF path, greedy as the paper
    and sampled at temperature 1 as SPIN's later iterations), the share of n examples whose
    trainer prompt ids and attention and y′ ids equal the generation's (allowing the EOS the
    trainer appends to a cut-off response: one more decoding step would give its log-prob).
    The rest would need the pass anyway. y′ is stored as text and re-tokenised, as the
    official code does, and the official layout's trainer gives attention 0 to any EOS
    inside the prompt (the user turn's, in Zephyr's template and the tiny one)."""
    from dataclasses import replace

    from spin.config import GenerationConfig
    from spin.generate.hf_backend import HFBackend
    from spin.prompts import clean_generation, format_prompt
    from spin.tiny.tasks import make_items
    from spin.train.dataset import tokenize_example

    items = make_items(n, seed=2)
    base = GenerationConfig(backend="transformers", prompt_format="chat", max_new_tokens=new_tokens)
    backend = HFBackend(str(model), base)
    tok, eos = backend.tokenizer, backend.tokenizer.eos_token_id
    out: dict = {"examples": n, "new_tokens": new_tokens}
    for layout in ("clean", "official"):
        texts = [format_prompt(tok, i["prompt"], "chat", layout) for i in items]
        for decoding, temperature in (("greedy", 0.0), ("sampled", 1.0)):
            backend.cfg = replace(base, layout=layout, temperature=temperature)
            same, row = 0, 0
            for enc, new in backend.generate_ids(texts, list(range(n))):
                for context, mask, ids in zip(
                    enc["input_ids"], enc["attention_mask"], new, strict=True
                ):
                    ids = ids.tolist()
                    ids = ids[: ids.index(eos) + 1] if eos in ids else ids
                    # as the generate stage stores it, then as the trainer tokenises it
                    raw = tok.decode(ids, skip_special_tokens=layout == "clean")
                    example = {
                        "prompt": texts[row],
                        "rejected": clean_generation(raw, layout, tok.eos_token),
                    }
                    t = tokenize_example(
                        example,
                        tok,
                        roles=("generated",),
                        layout=layout,
                        max_length=None,
                        max_prompt_length=None,
                    )
                    same += (
                        t["prompt_ids"] == context[mask.bool()].tolist()
                        and all(t["prompt_attention_mask"])
                        and all(t["generated_attention_mask"])
                        and t["generated_ids"] in (ids, ids + [eos])
                    )
                    row += 1
            out[f"{layout}_{decoding}"] = same / n
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


REUSE_PROMPTS = 64
"""y′ that `generation_reuse` generates with the training model, per layout and decoding."""

# The arms of the training benchmark, in the order they are built and first run.
ARMS = ("resident_reference", "precomputed_reference", "tspin", "tspin_beta0")
# Each ratio: (key, numerator arm, denominator arm) of time per example.
STEP_RATIOS = (
    ("spin_step_speedup", "resident_reference", "precomputed_reference"),
    ("tspin_time_per_example_vs_spin", "tspin", "precomputed_reference"),
    ("tspin_beta0_time_per_example_vs_spin", "tspin_beta0", "precomputed_reference"),
)


def interleave_order(arms: tuple[str, ...] | list[str], round_index: int) -> list[str]:
    """The arms' order in one round: rotated by one each round, so no arm always runs first
    or always right after the same arm."""
    k = round_index % len(arms) if arms else 0
    return [*arms[k:], *arms[:k]]


def spread(values: list[float]) -> dict:
    """Median of a ratio's samples (one per round) with a 95% interval for it, the quartiles,
    min and max. The interval is distribution-free: the order statistics n/2 − 0.98·√n
    and 1 + n/2 + 0.98·√n (the binomial's normal approximation), clipped to the samples."""
    import math
    import statistics

    xs = sorted(values)
    n = len(xs)
    half = 0.98 * math.sqrt(n)
    lo, hi = max(math.floor(n / 2 - half), 1), min(math.ceil(1 + n / 2 + half), n)
    q1, _, q3 = statistics.quantiles(xs, n=4) if n > 1 else (xs[0], None, xs[0])
    return {
        "median": statistics.median(xs),
        "median_ci95": [xs[lo - 1], xs[hi - 1]],
        "quartiles": [q1, q3],
        "min": xs[0],
        "max": xs[-1],
        "rounds": n,
    }


def round_ratios(blocks: dict[str, list[dict]], num: str, den: str, setup=None, examples=0):
    """Per-round ratios of arm `num`'s time to arm `den`'s, over the rounds where both ran the
    same steps. Without `setup`, of time per example; with setup {arm: seconds} and
    `examples`, of end-to-end time: setup + examples × the round's time per example, i.e. the
    run's end to end had every step gone at that round's speed."""
    out = []
    for a, b in zip(blocks[num], blocks[den], strict=False):
        if a["steps"] == 0 or a["steps"] != b["steps"] or a["examples"] != b["examples"]:
            continue
        ta, tb = a["s"] / a["examples"], b["s"] / b["examples"]
        if setup is None:
            out.append(ta / tb)
        else:
            out.append((setup[num] + examples * ta) / (setup[den] + examples * tb))
    return out


def arm_timings(blocks: list[dict], build_s: list[float], n: int) -> dict:
    """One arm's measurements from its blocks: set-up (median build + the Trainer's own
    preparation in train(), the "start" block), examples/s over its step blocks, and end to
    end at each epoch's end (set-up + the blocks up to that epoch's last)."""
    import statistics

    start = sum(b["s"] for b in blocks if b["kind"] == "start")
    setup_s = statistics.median(build_s) + start
    steps = [b for b in blocks if b["kind"] == "steps"]
    out = {
        "setup_s": setup_s,
        "build_s": build_s,
        "train_start_s": start,
    }
    elapsed, epoch_s, last_end = 0.0, [], 0.0
    for b in steps:
        elapsed += b["s"]
        if b["epoch_end"]:
            epoch_s.append(elapsed - last_end)
            last_end = elapsed
            out[f"end_to_end_{len(epoch_s)}_epoch_s"] = setup_s + elapsed
    out["epoch_s"] = epoch_s
    out["examples_per_s"] = n * len(epoch_s) / sum(b["s"] for b in steps)
    return out


def bench_training(
    model: Path,
    workdir: Path,
    n: int,
    *,
    block_steps: int = 1,
    builds: int = 3,
    vllm: bool = False,
) -> dict:
    """Four 2-epoch runs (the paper's epochs), each built and trained as its command does:
    SPIN with the precomputed reference (train_spin's SPINTrainer) and with a resident
    reference (how the official trainer runs), T-SPIN with β > 0 and with β = 0.

    Interleaved, so that a change of machine load hits every arm alike: each arm's trainer
    is built `builds` times, the arms taking turns (set-up = the median build, which covers
    loading, tokenisation and any reference pass, plus the Trainer's own preparation in
    train()), then the four train side by side in one process, each in its own thread, one
    at a time in turns of `block_steps` optimizer steps (a round = one turn of each arm; the
    order rotates each round; by default one step, so the arms compared in a round ran
    seconds apart). Every arm runs the same batches in the same round, so each round gives
    one sample of every ratio; a ratio is reported as the median over rounds (with a 95%
    interval for it, quartiles, min and max: `spread`) and as the ratio of the totals. The
    end-to-end ratios' rounds are modelled (`round_ratios`): the median set-up plus the
    run's examples at that round's speed. The reference pass is set against the forwards it
    saves (`pass_budget`) and, with `vllm`, timed against vLLM scoring the same tokens after
    training (`score_with_vllm`)."""
    import gc

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

    build = {
        "resident_reference": spin_resident,
        "precomputed_reference": spin_precomputed,
        "tspin": tspin(cfg.beta),
        # β = 0 (T-SPIN iteration 0, tspin_noha) runs y and y′ only: it should cost a SPIN step
        "tspin_beta0": tspin(0.0),
    }
    trainers: dict = {}
    build_s: dict[str, list[float]] = {arm: [] for arm in ARMS}
    for i in range(builds):
        for arm in interleave_order(ARMS, i):
            trainers.pop(arm, None)
            gc.collect()
            torch.manual_seed(0)
            start = time.perf_counter()
            trainers[arm] = build[arm](workdir / f"ckpt-{arm}")
            build_s[arm].append(time.perf_counter() - start)
    blocks, rounds = train_interleaved(trainers, block_steps)
    # the precomputed arm's reference pass, inside train()'s start block (spin.train.reference)
    pass_s = [trainers["precomputed_reference"].reference_pass_s]
    out: dict = {
        "examples": n,
        "epochs": cfg.num_train_epochs,
        "block_steps": block_steps,
        "builds": builds,
        "rounds": rounds,
    }
    for arm in ARMS:
        out[arm] = arm_timings(blocks[arm], build_s[arm], n)
    setup = {arm: out[arm]["setup_s"] for arm in ARMS}
    ratios = [(key, num, den, None, 0) for key, num, den in STEP_RATIOS]
    for e in range(1, cfg.num_train_epochs + 1):
        key = f"spin_end_to_end_speedup_{e}_epoch"
        ratios.append((key, "resident_reference", "precomputed_reference", setup, e * n))
    for key, num, den, s, examples in ratios:
        samples = spread(round_ratios(blocks, num, den, s, examples))
        if s is None:
            total = out[den]["examples_per_s"] / out[num]["examples_per_s"]
        else:
            e = examples // n
            total = out[num][f"end_to_end_{e}_epoch_s"] / out[den][f"end_to_end_{e}_epoch_s"]
        out[key] = samples["median"]
        out[f"{key}_spread"] = {**samples, "total": total}
    losses = {
        arm: [h["loss"] for h in trainers[arm].state.log_history if "loss" in h] for arm in ARMS
    }
    a, b = losses["resident_reference"], losses["precomputed_reference"]
    out["max_loss_difference"] = max(abs(x - y) for x, y in zip(a, b, strict=True))
    out["reference_pass"] = pass_budget(out, pass_s, n)
    if vllm:
        out["reference_pass"]["vllm"] = score_with_vllm(
            model, trainers["precomputed_reference"].train_dataset
        )
    return out


def pass_budget(t: dict, pass_s: list[float], n: int, target: float = 1.25) -> dict:
    """The reference pass against the reference forwards it saves. F = the resident arm's
    reference forward per example inside a step (its time per example less the precomputed
    arm's, from the totals); the pass per example in units of F; and the longest pass with
    which the end-to-end ratio at the last epoch would reach `target`, all else as measured."""
    import statistics

    res, pre = t["resident_reference"], t["precomputed_reference"]
    seconds = statistics.median(pass_s)
    forward = 1 / res["examples_per_s"] - 1 / pre["examples_per_s"]
    e = t["epochs"]
    budget = res[f"end_to_end_{e}_epoch_s"] / target - (pre[f"end_to_end_{e}_epoch_s"] - seconds)
    return {
        "pass_s": seconds,
        "passes_s": pass_s,
        "pass_per_example_s": seconds / n,
        "reference_forward_per_example_s": forward,
        "pass_in_forwards": seconds / n / forward,
        "target": target,
        "epochs": e,
        "pass_needed_s": budget,
        "pass_needed_in_forwards": budget / n / forward,
    }


def score_with_vllm(model: Path, dataset, runs: int = 2) -> dict:
    """The reference pass's sequences (prompt + y, prompt + y′ of the tokenised dataset)
    scored by vLLM instead (prompt log-probs, one engine, float32 as the trainer): seconds
    of the last of `runs` timed passes (the first warms the engine up), and the largest
    difference of its summed log-probs from the trainer's pass (the dataset's ref columns)."""
    from vllm import SamplingParams
    from vllm.inputs import TokensPrompt

    from spin.config import GenerationConfig
    from spin.generate.vllm_backend import VLLMBackend

    prompts = dataset["prompt_ids"]
    sequences = [p + y for p, y in zip(prompts, dataset["real_ids"], strict=True)]
    sequences += [p + y for p, y in zip(prompts, dataset["generated_ids"], strict=True)]
    starts = [len(p) for p in prompts] * 2
    engine = VLLMBackend(
        str(model), GenerationConfig(backend="vllm", gpu_memory_utilization=0.2), dtype="float32"
    )
    params = SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0.0)
    try:
        for _ in range(runs):
            start = time.perf_counter()
            outputs = engine.llm.generate(
                [TokensPrompt(prompt_token_ids=s) for s in sequences], params, use_tqdm=False
            )
            seconds = time.perf_counter() - start
    finally:
        engine.close()
    sums = [
        sum(o.prompt_logprobs[j][ids[j]].logprob for j in range(k, len(ids)))
        for o, ids, k in zip(outputs, sequences, starts, strict=True)
    ]
    trainer = list(dataset["ref_chosen_logps"]) + list(dataset["ref_rejected_logps"])
    return {
        "startup_s": engine.startup_s,
        "pass_s": seconds,
        "tokens": sum(len(s) for s in sequences),
        "max_abs_difference": max(abs(a - b) for a, b in zip(sums, trainer, strict=True)),
    }


def train_interleaved(trainers: dict, block_steps: int) -> tuple[dict[str, list[dict]], int]:
    """Train every trainer, each in its own thread, one at a time in turns of `block_steps`
    optimizer steps (see _Interleaved), the order rotating each round. Returns each one's
    blocks and the number of rounds."""
    runners = {name: _Interleaved(t, block_steps) for name, t in trainers.items()}
    for r in runners.values():
        r.thread.start()
    rounds = 0
    while active := [name for name, r in runners.items() if not r.finished]:
        for name in interleave_order(active, rounds):
            runners[name].run_block()
        rounds += 1
    return {name: r.blocks for name, r in runners.items()}, rounds


class _Interleaved:
    """One trainer's `train()` in its own thread, run a block of optimizer steps at a time
    when the main thread calls `run_block`; only one thread runs at any time. The blocks:
    "start" (train()'s own preparation, up to on_train_begin), "steps" (at most block_steps
    steps, ending at an epoch's end at the latest) and "end" (after the last epoch)."""

    def __init__(self, trainer, block_steps: int):
        import threading

        from transformers import TrainerCallback

        self.trainer, self.block_steps = trainer, block_steps
        self.blocks: list[dict] = []
        self.finished, self.error = False, None
        self._turn, self._yielded = threading.Semaphore(0), threading.Semaphore(0)
        self._steps, self._began = 0, 0.0
        runner = self

        class Turns(TrainerCallback):
            def on_train_begin(self, args, state, control, **kwargs):
                runner._yield("start")

            def on_step_end(self, args, state, control, **kwargs):
                runner._steps += 1
                if runner._steps == runner.block_steps:
                    runner._yield("steps")

            def on_epoch_end(self, args, state, control, **kwargs):
                if runner._steps:
                    runner._yield("steps", epoch_end=True)
                else:  # the block that ended at this epoch's last step
                    runner.blocks[-1]["epoch_end"] = True

        trainer.add_callback(Turns())
        self.thread = threading.Thread(target=self._train, daemon=True)

    def _train(self) -> None:
        import torch

        torch.set_flush_denormal(True)  # per thread (see spin.cli)
        self._turn.acquire()
        self._began = time.perf_counter()
        try:
            self.trainer.train()
            self._record("end")
        except BaseException as e:  # re-raised in the main thread by run_block
            self.error = e
        finally:
            self.finished = True
            self._yielded.release()

    def _record(self, kind: str, epoch_end: bool = False) -> None:
        steps, batch = self._steps, self.trainer.args.per_device_train_batch_size
        self.blocks.append(
            {
                "kind": kind,
                "s": time.perf_counter() - self._began,
                "steps": steps,
                "examples": steps * batch,
                "epoch_end": epoch_end,
            }
        )
        self._steps = 0

    def _yield(self, kind: str, epoch_end: bool = False) -> None:
        self._record(kind, epoch_end)
        self._yielded.release()
        self._turn.acquire()
        self._began = time.perf_counter()

    def run_block(self) -> None:
        """Let this trainer run its next block; return when it has."""
        self._turn.release()
        self._yielded.acquire()
        if self.error is not None:
            raise self.error


def _ratio(t: dict, key: str) -> str:
    s = t[f"{key}_spread"]
    lo, hi = s["median_ci95"]
    return f"{t[key]:.2f}x [{lo:.2f}-{hi:.2f}; {s['min']:.2f}-{s['max']:.2f}] ({s['total']:.2f}x)"


def main(args) -> int:
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    model = _tiny_model(workdir)
    train_model = _tiny_model(
        workdir,
        f"model-{args.train_hidden}x{args.train_layers}",
        args.train_hidden,
        args.train_layers,
    )
    results = {
        "generation": bench_generation(model, args.prompts, args.new_tokens, args.skip_vllm),
        "training": bench_training(
            train_model,
            workdir,
            args.pairs,
            block_steps=args.block_steps,
            builds=args.builds,
            vllm=not args.skip_vllm,
        ),
    }
    g, t = results["generation"], results["training"]
    p = t["reference_pass"]
    p["generation_reuse"] = generation_reuse(train_model, REUSE_PROMPTS, args.new_tokens)
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
        f"\n== training ({t['examples']} examples of ~50-token responses, batch 8, {t['epochs']} "
        f"epochs, Mistral {args.train_hidden} wide x {args.train_layers} layers); arms "
        f"interleaved {t['block_steps']} steps at a time: ratios are the median over "
        f"{t['spin_step_speedup_spread']['rounds']} rounds [its 95% interval; min-max of the "
        "rounds] (ratio of the totals)"
    )
    for name in ARMS:
        r = t[name]
        print(
            f"{name:22}: {r['examples_per_s']:7.1f} examples/s in steps; "
            f"set-up {r['setup_s']:.1f} s; end to end {r['end_to_end_1_epoch_s']:.1f} s "
            f"at 1 epoch, {r['end_to_end_2_epoch_s']:.1f} s at 2"
        )
    print(
        f"precomputed vs resident reference: {_ratio(t, 'spin_step_speedup')} per step; "
        f"end to end {_ratio(t, 'spin_end_to_end_speedup_1_epoch')} at 1 epoch, "
        f"{_ratio(t, 'spin_end_to_end_speedup_2_epoch')} at 2 (target >= 1.25x); "
        f"max |loss difference| {t['max_loss_difference']:.2e}"
    )
    reuse = p["generation_reuse"]
    print(
        f"reference pass: {p['pass_s']:.1f} s = {p['pass_in_forwards']:.2f} F per example "
        "(F = the resident reference's forward in a step, "
        f"{1000 * p['reference_forward_per_example_s']:.0f} ms an example); "
        f"{p['target']}x at {p['epochs']} epochs needs <= {p['pass_needed_s']:.1f} s "
        f"({p['pass_needed_in_forwards']:.2f} F)"
    )
    if "vllm" in p:
        v = p["vllm"]
        print(
            f"  the same {v['tokens']} tokens scored by vLLM (prompt log-probs): "
            f"{v['pass_s']:.1f} s "
            f"({v['pass_s'] / p['pass_s']:.2f}x the pass; engine start-up {v['startup_s']:.0f} s "
            f"not included); max |difference| {v['max_abs_difference']:.1e}"
        )
    print(
        f"  y' whose trainer tokens are the generated ones (reference log-probs reusable from "
        f"generation), of {reuse['examples']}: "
        + ", ".join(
            f"{k.replace('_', ' ')} {100 * v:.0f}%"
            for k, v in reuse.items()
            if k not in ("examples", "new_tokens")
        )
    )
    print(
        "T-SPIN step: time per example "
        f"{_ratio(t, 'tspin_time_per_example_vs_spin')} SPIN's (target <= 1.6x)"
    )
    print(
        "T-SPIN step with beta = 0 (y0 not run): time per example "
        f"{_ratio(t, 'tspin_beta0_time_per_example_vs_spin')} SPIN's (target <= 1.05x)"
    )
    if args.output:
        from spin.io import write_json

        write_json(args.output, results)
    print(json.dumps(results, indent=1) if not args.output else f"\nwritten: {args.output}")
    return 0
