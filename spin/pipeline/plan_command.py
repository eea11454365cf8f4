"""`spin plan`: the stages an experiment runs, which are done, and what each computes."""

from __future__ import annotations

from pathlib import Path

from spin.pipeline.command import add_experiment_arguments

HELP = "List an experiment's stages, which are already done (cached), and what each will compute."
EXAMPLE = "spin plan replication/spin-zephyr-7b.yaml"


def add_arguments(p) -> None:
    add_experiment_arguments(p)
    p.add_argument(
        "--commands", action="store_true", help="also print each stage's equivalent command"
    )


def stage_command(stage, store) -> list[str]:
    """The CLI invocation equivalent to running `stage` (what --dry-run prints)."""
    from spin.pipeline.steps import train_command

    p, deps = stage.params, {n: store.path(d) for n, d in stage.deps.items()}
    out = store.partial(stage)
    if stage.kind == "generate":
        g = p["generation"]
        return [
            "spin", "generate", "--model", str(deps["model"] / "model"), "--input", str(deps["data"] / p["file"]),
            "--output", str(out / "generations.jsonl"), "--backend", g["backend"], "--prompt-format", g["prompt_format"],
            "--max-new-tokens", str(g["max_new_tokens"]), "--temperature", str(g["temperature"]), "--top-p", str(g["top_p"]),
            "--batch-size", str(g["batch_size"]), "--dtype", p["dtype"],
        ]  # fmt: skip
    if stage.kind in ("train", "sft"):
        cfg = p["training"] if stage.kind == "train" else p["sft"]
        method = p.get("method", "sft")
        launcher = cfg.get("launcher", "inprocess")
        cmd = train_command(
            method,
            deps["model"] / "model",
            out / "dataset",
            out,
            cfg,
            0,
            p["dtype"],
            cfg.get("accelerate_config", ""),
        )
        return cmd if launcher == "accelerate" else ["spin", *cmd[cmd.index("train") :]]
    if stage.kind == "eval":
        return [
            "spin",
            "eval",
            p["suite"],
            "--model",
            str(deps["model"] / "model"),
            "--backend",
            p["backend"],
            "--output-dir",
            str(out),
        ]
    return [f"(in-process {stage.kind})"]


def print_plan(exp, output_dir: str | None = None, *, commands: bool = False) -> None:
    import shlex

    from spin.pipeline.graph import build_graph
    from spin.pipeline.stage import Store, summarize_params, topological

    root = Path(output_dir) if output_dir else exp.resolved_output_dir
    store = Store(root)
    stages = topological(build_graph(exp).stages)
    done = sum(store.done(s) for s in stages)
    print(f"experiment {exp.name} (seed {exp.seed}, hash {exp.hash()[:12]}) -> {root}")
    print(f"{len(stages)} stages, {done} done, {len(stages) - done} to run\n")
    for s in stages:
        status = "done" if store.done(s) else ("partial" if store.partial(s).exists() else "todo")
        print(f"[{status:7}] {s.name:42} {s.kind:10} {s.key}  {summarize_params(s.estimate, 60)}")
        if commands and status != "done":
            print("          $ " + shlex.join(stage_command(s, store)))


def main(args) -> int:
    from spin.config import load_experiment

    exp = load_experiment(args.experiment, args.set)
    print_plan(exp, args.output_dir, commands=args.commands)
    return 0
