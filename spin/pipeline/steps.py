"""What each kind of stage does. Each action reads only its declared inputs (ctx.inputs)
and its own parameters, and writes only into ctx.workdir."""

from __future__ import annotations

import json
import logging
import random
import subprocess
import sys
from pathlib import Path

from spin.config import DataConfig, GenerationConfig, ModelConfig, SFTConfig, TrainingConfig
from spin.errors import DataError, SpinError
from spin.io import built_once, read_jsonl, write_jsonl
from spin.method import by_trainer
from spin.pipeline.stage import StageContext

log = logging.getLogger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Stage outputs that later stages and the runner's publish step read, by file name.
GENERATIONS = "generations.jsonl"  # generate: each input record plus "generated"
OWN_PAIRS = "own.jsonl"  # pairs: this iteration's pairs or triplets
TRAIN_PAIRS = "train.jsonl"  # pairs: what the trainer sees (mixed with the previous if set)
DYNAMICS = "dynamics.json"  # dynamics: rewards and log-likelihoods (spin-dynamics/1)


def model_path(stage_dir: Path) -> str:
    """The checkpoint a model-producing stage made (or links to, as `model`).

    A stage not run yet gives `<stage>/model`, where it will be: so the command `spin plan`
    prints for a later stage is the one that runs. Base-model stages from before the link
    recorded only the path in run.json."""
    run = stage_dir / "run.json"
    if not (stage_dir / "model").is_dir() and run.exists():
        return json.loads(run.read_text())["summary"]["model_path"]
    return str(stage_dir / "model")


def stage_argv(stage, inputs: dict[str, Path], workdir: Path, seed: int) -> list[str] | None:
    """The command a stage runs (generate, sft, train, eval), from the one builder its action
    uses to run it; None for the kinds done in-process without a CLI verb. `spin run
    --dry-run` and `spin plan --commands` print this."""
    build = {
        "generate": generate_argv,
        "sft": train_argv,
        "train": train_argv,
        "eval": eval_argv,
    }.get(stage.kind)
    return build(stage, inputs, workdir, seed) if build else None


def run_argv(argv: list[str]) -> None:
    """Execute a command of stage_argv: `spin VERB ...` in this process, anything else (an
    `accelerate launch`) as a subprocess."""
    if argv[0] != "spin":
        log.info("launching: %s", " ".join(argv))
        subprocess.run(argv, check=True)
        return
    from spin.cli import run_verb

    run_verb(argv[1:])


# ---------------------------------------------------------------- prepare


def prepare(ctx: StageContext) -> dict:
    """Prompts and real responses: prompts.jsonl (SPIN's training prompts), heldout.jsonl
    (for dynamics), sft.jsonl (if an SFT stage needs it), eval.jsonl (tiny preset),
    subsets/N.jsonl (nested subsets), pairs_iterT.jsonl (released SPIN_iter data)."""
    data = DataConfig(**ctx.stage.params["data"])
    seed, out = ctx.stage.params["seed"], ctx.workdir
    counts: dict = {}
    if data.source == "tiny":
        from spin.tiny.tasks import make_items, split_items

        seed = seed if data.seed is None else data.seed
        num_spin = 0 if data.prompts_from_sft else data.num_prompts
        items = make_items(data.num_sft + num_spin + data.num_eval, seed, data.families or None)
        parts = split_items(
            items, {"sft": data.num_sft, "spin": num_spin, "eval": data.num_eval}, seed
        )
        if data.prompts_from_sft:  # the SFT part is shuffled: its head is a seeded sample
            parts["spin"] = parts["sft"][: data.num_prompts]
        counts["sft"] = write_jsonl(
            out / "sft.jsonl", ({"prompt": r["prompt"], "real": r["answer"]} for r in parts["sft"])
        )
        prompts = [
            {"idx": i, "prompt": r["prompt"], "real": r["answer"], "family": r["family"]}
            for i, r in enumerate(parts["spin"])
        ]
        heldout = [
            {"idx": i, "prompt": r["prompt"], "real": r["answer"]}
            for i, r in enumerate(parts["eval"])
        ]
        counts["eval"] = write_jsonl(out / "eval.jsonl", parts["eval"])
    elif data.source == "ultrachat":
        from spin.data import sample_prompts, ultrachat_first_turns

        rows, test, where = _ultrachat_rows(data, seed)
        turns = ultrachat_first_turns(rows, source=where[0])
        prompts = sample_prompts(turns, data.num_prompts, seed)
        if ctx.stage.params.get("need_sft"):
            conversations = sample_prompts(
                [{"messages": r["messages"]} for r in rows], data.num_sft, seed
            )
            counts["sft"] = write_jsonl(out / "sft.jsonl", conversations)
        heldout = sample_prompts(ultrachat_first_turns(test, source=where[1]), data.num_eval, seed)
        if where[0] == where[1]:
            counts["heldout_from"] = f"{data.num_eval} conversations held out of {data.path}"
    else:  # spin_iter: the released pairs replace our generation
        from spin.data import load_hub_or_local, spin_iter_pairs

        revisions = data.spin_iter_revisions
        for t in range(ctx.stage.params["iterations"]):
            repo = data.spin_iter_repo.format(iteration=t)
            rev = revisions[t] if t < len(revisions) else None
            pairs = spin_iter_pairs(
                load_hub_or_local(repo, split="train", revision=rev), source=repo
            )
            counts[f"pairs_iter{t}"] = write_jsonl(out / f"pairs_iter{t}.jsonl", pairs)
            if t == 0:
                prompts = [
                    {"idx": p["idx"], "prompt": p["prompt"], "real": p["real"]} for p in pairs
                ]
                test = spin_iter_pairs(
                    load_hub_or_local(repo, split="test", revision=rev),
                    source=f"{repo}:test",
                )
                heldout = [
                    {"idx": p["idx"], "prompt": p["prompt"], "real": p["real"]} for p in test
                ][: data.num_eval]
    counts["prompts"] = write_jsonl(out / "prompts.jsonl", prompts)
    counts["heldout"] = write_jsonl(out / "heldout.jsonl", heldout)
    if data.subset_sizes:
        from spin.data import nested_subsets

        for size, subset in nested_subsets(prompts, data.subset_sizes, seed).items():
            write_jsonl(
                out / "subsets" / f"{size}.jsonl", [{**r, "idx": i} for i, r in enumerate(subset)]
            )
    return counts


def _ultrachat_rows(data: DataConfig, seed: int) -> tuple[list, list, tuple[str, str]]:
    """Training and held-out conversations, and where each came from (for error messages).

    From the Hub or a folder with split files: `split` and `eval_split`. From one local file
    (or one saved dataset) both splits would be the same rows, making the held-out set the
    training prompts, so a seeded num_eval of its conversations is held out of training.
    """
    from spin.data import load_hub_or_local, ultrachat_first_turns

    p = Path(data.path)
    if not (p.is_file() or (p.is_dir() and (p / "dataset_info.json").exists())):
        rows = load_hub_or_local(data.path, split=data.split, revision=data.revision)
        test = load_hub_or_local(data.path, split=data.eval_split, revision=data.revision)
        return rows, test, (f"{data.path}:{data.split}", f"{data.path}:{data.eval_split}")
    if p.suffix in (".jsonl", ".json") and p.is_file():
        rows = read_jsonl(p, required=["messages"])  # errors name the line
    else:
        rows = list(load_hub_or_local(data.path, split=data.split))
    if not rows:
        raise DataError(p, "has no conversations (data.path)")
    ultrachat_first_turns(rows, source=str(p))  # check every row where its line is known
    if not 0 < data.num_eval < len(rows):
        raise DataError(
            p,
            f"has {len(rows)} conversations: one file cannot give data.num_eval="
            f"{data.num_eval} held-out ones and keep some for training (set "
            "data.num_eval, or give a folder with split files)",
        )
    held = set(random.Random(seed).sample(range(len(rows)), data.num_eval))
    train = [r for i, r in enumerate(rows) if i not in held]
    return train, [rows[i] for i in sorted(held)], (str(p), str(p))


# ---------------------------------------------------------------- models


def base_model(ctx: StageContext) -> dict:
    """θ0's starting point: the tiny model built here, a local checkpoint, or a pinned Hub
    snapshot (downloaded once into the HF cache; the stage records its path)."""
    cfg = ModelConfig(**ctx.stage.params["model"])
    if cfg.name_or_path == "tiny":
        from spin.tiny.model import TinyModelSpec, build_tiny_model

        corpus = []
        for name in ("sft.jsonl", "prompts.jsonl", "heldout.jsonl"):
            path = ctx.inputs["data"] / name
            if path.exists():
                corpus += [f"{r['prompt']} {r['real']}" for r in read_jsonl(path)]
        spec = TinyModelSpec(
            vocab_size=cfg.vocab_size,
            hidden_size=cfg.hidden_size,
            num_hidden_layers=cfg.num_hidden_layers,
            num_attention_heads=cfg.num_attention_heads,
            intermediate_size=2 * cfg.hidden_size,
            seed=ctx.stage.params["seed"],
        )
        build_tiny_model(ctx.workdir / "model", corpus, spec)
        return {"model": "tiny", "parameters": _count_parameters(ctx.workdir / "model")}
    if (
        cfg.name_or_path.startswith(("/", ".", "~"))
        and not Path(cfg.name_or_path).expanduser().exists()
    ):
        raise SpinError(f"model path not found: {cfg.name_or_path} (model.name_or_path)")
    if Path(cfg.name_or_path).exists():
        path = Path(cfg.name_or_path).resolve()
        if not (path / "config.json").exists():
            raise SpinError(f"model path {path} has no config.json: not a checkpoint")
        _link_model(ctx.workdir, path)
        return {"model_path": str(path)}
    from spin.data import fetch_model

    path = fetch_model(cfg.name_or_path, cfg.revision)
    _link_model(ctx.workdir, Path(path))
    return {"model_path": path, "revision": cfg.revision}


def _link_model(workdir: Path, target: Path) -> None:
    """`<stage>/model` -> the checkpoint, as the stages that train one have: every later
    command names `<stage>/model`, known before this stage runs (spin plan prints it)."""
    link = workdir / "model"
    if link.is_symlink():
        link.unlink()
    link.symlink_to(target.resolve(), target_is_directory=True)


def _count_parameters(path: Path) -> int:
    from transformers import AutoConfig, AutoModelForCausalLM

    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path))
    return sum(p.numel() for p in model.parameters())


def sft(ctx: StageContext) -> dict:
    """SFT from the input model on an input data file: θ0 in the tiny preset, or one epoch
    of the continued-SFT baseline."""
    from transformers import AutoTokenizer

    from spin.train.dataset import build_dataset

    p = ctx.stage.params
    cfg = SFTConfig(**p["sft"])
    start = model_path(ctx.inputs["model"])
    path = ctx.inputs["data"] / p["file"]
    if _is_chat(
        path
    ):  # full conversations (rebuilding zephyr-7b-sft-full): TRL applies the template
        records = read_jsonl(path, required=["messages"], nonempty=["messages"])
    else:
        records = read_jsonl(path, required=["prompt", "real"], nonempty=["prompt", "real"])
    dataset_dir = ctx.workdir / "dataset"

    def build(out: Path) -> None:
        tokenizer = AutoTokenizer.from_pretrained(start)
        if records and "messages" in records[0]:
            from spin.train.sft import conversation_texts

            conversation_texts(records, tokenizer, cfg).save_to_disk(str(out))
        else:
            build_dataset(
                records,
                tokenizer,
                kind="sft",
                prompt_format=p["prompt_format"],
                max_prompt_length=cfg.max_length // 2,
                out_dir=out,
            )

    built_once(dataset_dir, build)
    result = _train(ctx)
    return {
        "examples": len(records),
        "final_loss": _last(result, "train_loss"),
        "losses": _losses(result),
    }


def _is_chat(path: Path) -> bool:
    with path.open() as f:
        first = f.readline()
    return bool(first) and "messages" in json.loads(first)


# ---------------------------------------------------------------- self-play


def generate(ctx: StageContext) -> dict:
    """Responses of the input model to every prompt of an input file (resumable).

    With more than one GPU, one `spin generate` process per GPU (or per group of
    tensor_parallel_size GPUs) on disjoint shards, merged by idx into the same file one
    process writes (spin.generate.data_parallel); SPIN_GENERATE_PROCESSES overrides the
    count. On a CPU, one process: this one."""
    from spin.generate import data_parallel

    cfg = GenerationConfig(**ctx.stage.params["generation"])
    argv = generate_argv(ctx.stage, ctx.inputs, ctx.workdir, ctx.seed)
    out = ctx.workdir / GENERATIONS
    processes = data_parallel.process_count(cfg.tensor_parallel_size)
    data_parallel.check_resumable(out, processes)
    if processes > 1:  # the same command once per GPU, each with --shard K/N
        model, src = argv[argv.index("--model") + 1], Path(argv[argv.index("--input") + 1])
        generated = data_parallel.launch(
            model,
            src,
            out,
            processes,
            argv[argv.index("--output") + 2 :],
            align=data_parallel.batch_alignment(cfg),
            gpus_per_shard=cfg.tensor_parallel_size,
        )
    else:
        before = len(read_jsonl(out)) if out.exists() else 0
        run_argv(argv)
        generated = len(read_jsonl(out)) - before
    records = read_jsonl(out)
    empty = sum(1 for r in records if not r["generated"].strip())
    identical = sum(1 for r in records if r["generated"].strip() == str(r.get("real", "")).strip())
    return {
        "records": len(records),
        "generated_now": generated,
        "processes": processes,
        "empty": empty,
        "identical_to_real": identical,
    }


def generate_argv(stage, inputs: dict[str, Path], workdir: Path, seed: int) -> list[str]:
    """`spin generate` with the stage's GenerationConfig, on its input file."""
    from spin.generate.command import options

    p = stage.params
    cfg = GenerationConfig(**p["generation"])
    return [
        "spin",
        "generate",
        "--model",
        model_path(inputs["model"]),
        "--input",
        str(inputs["data"] / p["file"]),
        "--output",
        str(workdir / GENERATIONS),
        *options(cfg, dtype=p["dtype"], seed=seed),
    ]


def pairs(ctx: StageContext) -> dict:
    """Assemble this iteration's training data: pairs (SPIN; mixed with the previous
    iteration's pairs) or triplets (T-SPIN; with θ0's y0). Writes own.jsonl (this
    iteration's) and train.jsonl (what the trainer sees)."""
    from spin.data import assemble_pairs, assemble_triplets, mix_iterations

    p = ctx.stage.params
    gen_file = ctx.inputs["generations"] / (p.get("released", GENERATIONS))
    generations = read_jsonl(gen_file, required=["idx", "prompt", "real", "generated"])
    if p["kind"] == "triplets":
        protos = read_jsonl(ctx.inputs["proto"] / GENERATIONS)
        own = assemble_triplets(generations, protos, source=str(gen_file))
    else:
        own = assemble_pairs(generations, iteration=p["iteration"], source=str(gen_file))
    previous = read_jsonl(ctx.inputs["previous"] / OWN_PAIRS) if "previous" in ctx.inputs else None
    train = mix_iterations(own, previous) if p["mix_previous"] else own
    write_jsonl(ctx.workdir / OWN_PAIRS, own)
    write_jsonl(ctx.workdir / TRAIN_PAIRS, train)
    return {
        "own": len(own),
        "train": len(train),
        "mixed_previous": previous is not None and p["mix_previous"],
    }


def train(ctx: StageContext) -> dict:
    """θt -> θt+1 on the pairs or triplets, reference θt (SPIN, T-SPIN_ref) or none (T-SPIN)."""
    from transformers import AutoTokenizer

    from spin.train.dataset import build_dataset

    p = ctx.stage.params
    cfg = TrainingConfig(**p["training"])
    start = model_path(ctx.inputs["model"])
    records = read_jsonl(ctx.inputs["pairs"] / TRAIN_PAIRS)
    dataset_dir = ctx.workdir / "dataset"
    stats = {"examples": len(records)}
    stats.update(
        built_once(
            dataset_dir,
            lambda out: build_dataset(
                records,
                AutoTokenizer.from_pretrained(start),
                kind=by_trainer(p["method"]).data,
                prompt_format=cfg.prompt_format,
                max_prompt_length=cfg.max_prompt_length,
                out_dir=out,
                layout=cfg.layout,
            ),
        )
    )
    result = _train(ctx)
    return {**stats, "final_loss": _last(result, "train_loss"), "losses": _losses(result)}


def _train(ctx: StageContext) -> dict:
    """Run the stage's `spin train` in this process, or under `accelerate launch`."""
    run_argv(train_argv(ctx.stage, ctx.inputs, ctx.workdir, ctx.seed))
    return json.loads((ctx.workdir / "train_result.json").read_text())


def train_argv(stage, inputs: dict[str, Path], workdir: Path, seed: int) -> list[str]:
    """`spin train` for an sft or train stage on the dataset its action builds in
    workdir/dataset; `accelerate launch ... -m spin.cli train ...` with launcher accelerate."""
    p = stage.params
    cfg = p["training"] if stage.kind == "train" else p["sft"]
    cmd = train_command(
        p.get("method", "sft"),
        model_path(inputs["model"]),
        workdir / "dataset",
        workdir,
        cfg,
        seed,
        p["dtype"],
        cfg.get("accelerate_config", ""),
    )
    if cfg.get("launcher", "inprocess") == "accelerate":
        return cmd
    return ["spin", *cmd[cmd.index("spin.cli") + 1 :]]


def train_command(
    method, start, dataset_dir, out, cfg: dict, seed: int, dtype: str, accelerate_config: str
) -> list[str]:
    """The `accelerate launch ... spin train ...` command line for one training stage.
    A relative accelerate config is looked up from the working directory, then from the
    project root (where replication/accelerate/ lives)."""
    config = Path(accelerate_config)
    if not config.is_absolute():
        config = config.resolve() if config.exists() else PROJECT_ROOT / config
    accelerate_config = config
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(accelerate_config),
        "-m",
        "spin.cli",
        "train",
        "--method",
        method,
        "--model",
        str(start),
        "--data",
        str(dataset_dir),
        "--output-dir",
        str(out),
        "--config-json",
        json.dumps(cfg, sort_keys=True),
        "--seed",
        str(seed),
        "--dtype",
        dtype,
    ]


def _last(result: dict, key: str):
    for entry in reversed(result.get("log_history", [])):
        if key in entry:
            return entry[key]
    return None


def _losses(result: dict) -> list[float]:
    """The training loss at every logging step (what the stored-loss test pins)."""
    return [entry["loss"] for entry in result.get("log_history", []) if "loss" in entry]


def dynamics(ctx: StageContext) -> dict:
    """Rewards and log-likelihoods of y, y′ and y0 under θt+1 (the paper's Figures 3, 7),
    on a sample of the training data and on held-out prompts."""
    from transformers import AutoTokenizer

    from spin.dynamics import measure, write_dynamics

    p = ctx.stage.params
    policy = model_path(ctx.inputs["policy"])
    reference = (
        model_path(ctx.inputs["reference"]) if by_trainer(p["method"]).needs_reference else None
    )
    tokenizer = AutoTokenizer.from_pretrained(policy)
    splits = {}
    train_records = read_jsonl(ctx.inputs["pairs"] / OWN_PAIRS)[: p["max_train"]]
    protos = (
        {r["idx"]: r["generated"] for r in read_jsonl(ctx.inputs["proto"] / GENERATIONS)}
        if "proto" in ctx.inputs
        else {}
    )
    heldout_protos = {
        r["idx"]: r["generated"] for r in read_jsonl(ctx.inputs["heldout_proto"] / GENERATIONS)
    }
    heldout = read_jsonl(ctx.inputs["heldout"] / GENERATIONS)[: p["max_heldout"]]
    for name, records, proto_map in (
        ("train", train_records, protos),
        ("heldout", heldout, heldout_protos),
    ):
        records = [{**r, "proto": r.get("proto", proto_map.get(r["idx"]))} for r in records]
        if any(r["proto"] is None for r in records):
            records = [{k: v for k, v in r.items() if k != "proto"} for r in records]
        splits[name] = measure(
            policy,
            records,
            tokenizer,
            method=p["method"],
            reference_path=reference,
            alpha=p["alpha"],
            beta=p["beta"],
            prompt_format=p["prompt_format"],
            max_prompt_length=p["max_prompt_length"],
            reduction=p["reduction"],
            max_length=p["max_length"],
            layout=p["layout"],
            dtype=p["dtype"],
        )
    write_dynamics(
        ctx.workdir / DYNAMICS,
        method=p["method"],
        arm=p["arm"],
        iteration=p["iteration"],
        seed=ctx.seed,
        splits=splits,
        micro=p.get("micro", False),
    )
    return {
        name: {k: v for k, v in s.items() if k in ("n", "mismatch_share")}
        for name, s in splits.items()
    }


def evaluate(ctx: StageContext) -> dict:
    """Score a checkpoint on a suite; writes results in the results schema. The model block
    is left 'pending' and filled in by the runner's publish step, so that renaming an arm
    does not re-evaluate its checkpoints."""
    p = ctx.stage.params
    run_argv(eval_argv(ctx.stage, ctx.inputs, ctx.workdir, ctx.seed))
    results = ctx.workdir / f"{p['suite']}.json"
    payload = json.loads(results.read_text())
    return {"results_file": results.name, "average": payload.get("average")}


def eval_argv(stage, inputs: dict[str, Path], workdir: Path, seed: int) -> list[str]:
    """`spin eval SUITE` on the input model; the tiny suite reads the prepared eval.jsonl."""
    p = stage.params
    path = model_path(inputs["model"])
    return [
        "spin",
        "eval",
        p["suite"],
        "--model",
        path,
        "--backend",
        p["backend"],
        "--output-dir",
        str(workdir),
        "--seed",
        str(seed),
        "--batch-size",
        str(p["batch_size"]),
        *(["--limit", str(p["limit"])] if p["limit"] else []),
        *(["--data-dir", str(inputs["data"])] if p["suite"] == "tiny" else []),
        *(["--data-dir", p["data_dir"]] if p.get("data_dir") else []),
        "--model-name",
        Path(path).name,
        "--method",
        "pending",
        "--base-model",
        "pending",
    ]
