"""`spin plan`: the stages an experiment runs, which are done, and what each computes."""

from __future__ import annotations

from spin.pipeline.command import add_experiment_arguments
from spin.pipeline.plan import print_plan

HELP = "List an experiment's stages, which are already done (cached), and what each will compute."
EXAMPLE = "spin plan replication/spin-zephyr-7b.yaml --gpu a100-40gb --n-gpus 8"


def add_arguments(p) -> None:
    add_experiment_arguments(p)
    p.add_argument(
        "--commands",
        action="store_true",
        help="also print the command each stage runs (what spin run executes)",
    )
    p.add_argument(
        "--output-dir-only",
        action="store_true",
        help="print only the run folder (the experiment's output_dir after --set), for scripts",
    )
    p.add_argument(
        "--gpu",
        default="a100-80gb",
        choices=["a100-40gb", "a100-80gb", "h100-80gb", "h200"],
        help="GPU for the compute and memory estimates (the paper: a100-80gb)",
    )
    p.add_argument(
        "--n-gpus",
        type=int,
        default=8,
        help="GPUs on the node: training ranks and generation processes",
    )
    p.add_argument(
        "--mfu", type=float, default=0.4, help="model FLOPs utilisation assumed for training"
    )
    p.add_argument(
        "--tokens-per-sequence",
        type=float,
        default=400,
        help="prompt + response tokens per sequence (SPIN: ~150 + ~250)",
    )


def main(args) -> int:
    from spin.config import load_experiment

    exp = load_experiment(args.experiment, args.set)
    if args.output_dir_only:
        print(args.output_dir or exp.resolved_output_dir)
        return 0
    print_plan(exp, args.output_dir, commands=args.commands, compute_args=args)
    return 0
