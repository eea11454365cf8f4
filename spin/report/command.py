"""`spin report`: the registry of reported numbers, and every table and figure from results files.

Matplotlib is imported only when figures are drawn, so `spin --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = (
    "Print the reported numbers, or regenerate every table, figure and the HTML report "
    "from results JSON."
)
EXAMPLE = "spin report --results-dir runs/zephyr/results --output-dir reports/zephyr"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `spin report`."""
    parser.add_argument(
        "--reported",
        action="store_true",
        help="print the registry of reported numbers (long form) and exit",
    )
    parser.add_argument(
        "--format",
        choices=("csv", "md", "json"),
        default="csv",
        help="output format for --reported (default: csv)",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=None,
        help="directory searched recursively for spin-results/1 and spin-dynamics/1 "
        "JSON files; omit for the reported-only build",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=None,
        help="where comparison.csv, tables/, figures/ and index.html go",
    )
    parser.add_argument(
        "--reported-dir",
        type=Path,
        default=None,
        help="directory holding reported_results.csv (default: reports/reported "
        "in the repository, or $SPIN_REPORTED_DIR)",
    )
    parser.add_argument(
        "--figures",
        default=None,
        metavar="NAME[,NAME]",
        help="draw only these figures (stems, e.g. average_over_iterations,data_size); "
        "'none' for tables only. Default: every figure the data allows",
    )
    parser.add_argument(
        "--tolerance-se",
        type=float,
        default=2.0,
        help="within_tolerance: |delta| <= this many standard errors of ours (default 2)",
    )
    parser.add_argument(
        "--tolerance-abs",
        type=float,
        default=None,
        help="points of tolerance where ours has no stderr (default: leave the verdict empty)",
    )


def print_reported(fmt: str, reported_dir: Path | None, stream=None) -> None:
    """Print the registry in long form as csv, md or json."""
    from spin.report import registry

    stream = stream or sys.stdout  # looked up at call time, so redirection works

    df = registry.long_form(registry.load(reported_dir))
    if fmt == "csv":
        df.to_csv(stream, index=False)
    elif fmt == "md":
        stream.write(df.astype(object).where(df.notna(), "").to_markdown(index=False) + "\n")
    else:
        records = json.loads(df.to_json(orient="records"))
        stream.write(json.dumps(records, indent=1, ensure_ascii=False) + "\n")


def main(args: argparse.Namespace) -> int:
    """Run `spin report`."""
    from spin.errors import SpinError

    if args.reported:
        print_reported(args.format, args.reported_dir)
        return 0
    if args.output_dir is None:
        raise SpinError("give --output-dir (or --reported to print the registry)")
    from spin.report.build import Build

    if args.results_dir is not None:
        from spin.report.results import RESULTS_SCHEMA, scan

        found = scan(args.results_dir)
        if not found.results:
            raise SpinError(
                f"{args.results_dir}: no {RESULTS_SCHEMA} files below it ("
                f"{len(found.skipped)} other JSON files); give a run's results/ "
                "folder, or omit --results-dir for the reported-only build"
            )
    only = None
    if args.figures is not None:
        only = (
            set()
            if args.figures == "none"
            else {f.strip() for f in args.figures.split(",") if f.strip()}
        )
    build = Build(
        args.output_dir,
        reported_dir=args.reported_dir,
        results_dir=args.results_dir,
        k_se=args.tolerance_se,
        absolute=args.tolerance_abs,
        only_figures=only,
    )
    if only:
        from spin.errors import nearest

        possible = build.figure_plan()[0] + ["mtbench_radar", "training_dynamics"]
        for name in sorted(only - set(possible)):
            raise SpinError(f"unknown figure '{name}'{nearest(name, possible)}")
    for warning in build.warnings:
        print(f"spin report: warning: {warning}", file=sys.stderr)
    written = build.write()
    for line in build.summary:
        print(line)
    print(
        f"wrote {len(written)} files under {args.output_dir}/ (open {args.output_dir}/index.html)"
    )
    return 0
