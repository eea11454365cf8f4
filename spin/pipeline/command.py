"""`spin run`: the whole experiment, resumable."""

from __future__ import annotations

import logging
from pathlib import Path

HELP = "Run a whole experiment (data, SFT, self-play iterations, evaluation); resumes after a kill."
EXAMPLE = (
    "spin run replication/tiny.yaml --set seed=1\n"
    "  spin run replication/spin-zephyr-7b.yaml --micro   # the 7B recipe at micro size, on a CPU"
)


def add_experiment_file_arguments(p) -> None:
    """EXPERIMENT.yaml and its --set overrides: what every verb that reads a recipe takes."""
    p.add_argument("experiment", help="experiment YAML (see replication/)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=(
            "override a config field, e.g. training.learning_rate=1e-6 "
            "or arms.spin.iterations.0.beta=0.2"
        ),
    )


def add_experiment_arguments(p) -> None:
    add_experiment_file_arguments(p)
    p.add_argument("--output-dir", help="run folder (default: the experiment's output_dir)")


def add_arguments(p) -> None:
    add_experiment_arguments(p)
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the command each stage runs and what is cached; run nothing",
    )
    p.add_argument(
        "--stop-after", metavar="STAGE", help="stop after the named stage (e.g. spin/iter0/train)"
    )
    p.add_argument(
        "--micro",
        action="store_true",
        help="the recipe at micro size on a CPU: a random few-million-parameter model of its "
        "architecture, the real Mistral tokenizer, a few dozen Hub-shaped records; every other "
        "setting as the recipe (see spin/micro.py). Outputs are marked micro",
    )
    p.add_argument(
        "--micro-assets",
        metavar="DIR",
        help="with --micro: where the micro models and data are built once and reused "
        "(default: runs/micro-assets)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="less logging")


def main(args) -> int:
    from spin.config import load_experiment

    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    exp = load_experiment(args.experiment, args.set)
    if args.micro:
        from spin.micro import DEFAULT_ASSETS, build_assets, micro_overrides

        assets = Path(args.micro_assets or DEFAULT_ASSETS)
        micro = micro_overrides(exp, assets)
        _check_no_clash(args.set, micro)
        exp = load_experiment(args.experiment, args.set + micro)
        if not args.dry_run:
            build_assets(assets)
    if args.dry_run:
        from spin.pipeline.plan import print_plan

        print_plan(exp, args.output_dir, commands=True)
        return 0
    from spin.pipeline.runner import run_experiment
    from spin.summary import write_summary

    root = run_experiment(exp, output_dir=args.output_dir, stop_after=args.stop_after)
    if not args.stop_after:
        print(write_summary(root))
        print(f"\nresults: {root / 'results'}   plot: {root / 'accuracy.png'}")
    return 0


def _check_no_clash(user: list[str], micro: list[str]) -> None:
    """A --set of a key that --micro sizes would be silently replaced: refuse it."""
    from spin.errors import ConfigError

    sized = {item.split("=", 1)[0]: item for item in micro}
    for item in user:
        key = item.split("=", 1)[0].strip()
        if key in sized:
            raise ConfigError(f"--set {item}: --micro sets {sized[key]} (see spin/micro.py)")
