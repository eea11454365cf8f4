"""The plan printer: an experiment's stages, which are done, the command each runs, and
the compute and memory estimates (`spin plan`, `spin run --dry-run`)."""

from __future__ import annotations

import shlex
from pathlib import Path

from spin.pipeline.graph import build_graph
from spin.pipeline.stage import Store, topological
from spin.pipeline.stages import SFT, Generate, Train


def stage_compute(stage, n_params: float, args):
    """The compute estimate of one stage (training, generation), or None."""
    from spin.compute import estimate_generation, estimate_training

    if not n_params:
        return None
    if isinstance(stage, Generate):
        new_tokens = stage.config.max_new_tokens
        prompt_tokens = max(args.tokens_per_sequence - new_tokens, 0)
        return estimate_generation(
            n_params, stage.records.count, prompt_tokens, new_tokens, args.gpu, args.n_gpus
        )
    if isinstance(stage, SFT | Train):
        w = stage.workload()
        return estimate_training(
            n_params,
            w.examples,
            args.tokens_per_sequence * w.sequences,
            w.epochs,
            args.gpu,
            args.n_gpus,
            args.mfu,
            gradient_checkpointing=w.gradient_checkpointing,
            reference_forward=w.reference_forward,
        )
    return None


def stage_command(stage, store, seed: int) -> list[str]:
    """The command running `stage` executes (what --dry-run prints): the stage's argv(),
    which its run() executes, on the folders the run uses."""
    argv = stage.argv(store.context(stage, seed))
    return argv if argv is not None else [f"(in-process {stage.kind})"]


def print_plan(
    exp, output_dir: str | None = None, *, commands: bool = False, compute_args=None
) -> None:
    root = Path(output_dir) if output_dir else exp.resolved_output_dir
    store = Store(root)
    stages = topological(build_graph(exp).stages)
    done = sum(store.done(s) for s in stages)
    print(f"experiment {exp.name} (seed {exp.seed}, hash {exp.hash()[:12]}) -> {root}")
    print(f"{len(stages)} stages, {done} done, {len(stages) - done} to run\n")
    n_params = exp.model.num_parameters
    total_hours, total_disk, estimates = 0.0, 0, {}
    for s in stages:
        status = "done" if store.done(s) else ("partial" if store.partial(s).exists() else "todo")
        c = stage_compute(s, n_params, compute_args) if compute_args else None
        cost = ""
        if c is not None:
            estimates[s.name] = c
            cost = f"{c.wall_hours:7.2f} h  {c.flops:9.2e} FLOPs"
            if status != "done":
                total_hours += c.wall_hours
                total_disk += c.disk_bytes
        print(f"[{status:7}] {s.name:36} {s.kind:10} {s.key}  {cost}")
        if commands and status != "done":
            print("          $ " + shlex.join(stage_command(s, store, exp.seed)))
    if compute_args and n_params:
        _print_compute(exp, estimates, total_hours, total_disk, root, compute_args)
    elif compute_args:
        print("\n(no compute estimate: set model.num_parameters)")
    if compute_args:
        from spin.pipeline.memory_plan import print_memory

        print_memory(exp, stages, compute_args.gpu, compute_args.n_gpus)


def _print_compute(
    exp, estimates: dict, total_hours: float, total_disk: int, root: Path, args
) -> None:
    from spin.compute import REPORTED_HOURS, REPORTED_SOURCE, disk_free_check, format_bytes

    gpus = f"{args.n_gpus}x {args.gpu.upper()}"
    print(
        f"\ncompute estimate on {gpus}: {total_hours:.1f} h wall for the stages to run, "
        f"{format_bytes(total_disk)} of checkpoints and data"
    )
    print(
        "assumes: training 6·N FLOPs/token (8·N with gradient checkpointing) "
        f"at MFU {args.mfu}, generation 2·N at MFU 0.05,"
    )
    print(
        f"N = {exp.model.num_parameters:.3g} parameters, "
        f"{args.tokens_per_sequence:.0f} tokens per sequence; eval stages not estimated"
    )
    if exp.model.display_name == "zephyr-7b-sft-full":
        print(f"\n{'stage':28} {'ours (h)':>9} {'paper (h)':>10}   paper: {REPORTED_SOURCE}")
        for name, c in estimates.items():
            arm, _, rest = name.partition("/iter")
            if arm != "spin" or not rest:
                continue
            t, kind = int(rest.split("/")[0]), rest.split("/")[1]
            kind = {"train": "training", "generate": "generation"}.get(kind)
            if kind and t in REPORTED_HOURS[kind]:
                print(f"{name:28} {c.wall_hours:9.2f} {REPORTED_HOURS[kind][t]:10.2f}")
        print(
            "our goal: training <= 3 h per iteration on 8x A100 (about 40% MFU); no measurement yet"
        )
    warning = disk_free_check(root, total_disk)
    if warning:
        print("WARNING: " + warning)
