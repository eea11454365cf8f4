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
EXAMPLE = (
    "spin report --results-dir runs/zephyr/results --output-dir reports/zephyr\n"
    "  spin report --reported --format latex > reported.tex   (every reported table)\n"
    "  spin report --reported --model zephyr-7b-sft-full --benchmark gsm8k   (cite one cell)"
)
FORMATS = ("csv", "md", "json", "latex")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `spin report`."""
    parser.add_argument(
        "--reported",
        action="store_true",
        help="print the registry of reported numbers (long form) and exit",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="output format for --reported: the long form as csv, md or json, or latex "
        "(one booktabs table per reported table). Default: csv; with --model/--benchmark/"
        "--source, one line per matching cell with its provenance",
    )
    parser.add_argument(
        "--model",
        default=None,
        help="with --reported: only this model (its label, e.g. 'SPIN iter1', or Hub id)",
    )
    parser.add_argument(
        "--benchmark",
        default=None,
        help="with --reported: only this benchmark (e.g. gsm8k, mmlu, ifeval)",
    )
    parser.add_argument(
        "--source",
        default=None,
        help="with --reported: only sources starting with this (e.g. SPIN, T-SPIN, UCLA)",
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


def print_reported(
    fmt: str | None,
    reported_dir: Path | None,
    stream=None,
    *,
    model: str | None = None,
    benchmark: str | None = None,
    source: str | None = None,
) -> None:
    """Print the registry (or the cells matching the filters) as csv, md, json or latex; with
    a filter and no format, one line per cell with its provenance (for citing)."""
    from spin.report import citation, registry, tables

    stream = stream or sys.stdout  # looked up at call time, so redirection works
    reported = registry.load(reported_dir)
    filtered = model is not None or benchmark is not None or source is not None
    if filtered:
        reported = citation.find_cells(reported, model=model, benchmark=benchmark, source=source)
        if fmt is None:
            for row in reported.to_dict("records"):
                stream.write(citation.cell_line(row) + "\n")
            return
    fmt = fmt or "csv"
    if fmt == "latex":
        stream.write(
            "% spin report --reported --format latex: the reported numbers, one table per\n"
            "% source and table. Preamble: \\usepackage{booktabs} \\usepackage{graphicx}\n\n"
        )
        parts = [tables.to_latex(s, d, columns=c) for s, d, c in tables.registry_tables(reported)]
        stream.write("\n".join(parts))
        return
    df = registry.long_form(reported)  # value as printed: "35.10", not 35.1
    if fmt == "csv":
        df.to_csv(stream, index=False)
    elif fmt == "md":
        text = (
            df.astype(object).where(df.notna(), "").to_markdown(index=False, disable_numparse=True)
        )
        stream.write(text + "\n")
    else:
        records = json.loads(df.to_json(orient="records"))
        for rec in records:  # a number for arithmetic, and the text the paper prints
            rec["value_printed"] = rec["value"]
            rec["value"] = float(rec["value"])
        stream.write(json.dumps(records, indent=1, ensure_ascii=False) + "\n")


def main(args: argparse.Namespace) -> int:
    """Run `spin report`."""
    from spin.errors import SpinError

    if args.reported:
        print_reported(
            args.format,
            args.reported_dir,
            model=args.model,
            benchmark=args.benchmark,
            source=args.source,
        )
        return 0
    for option in ("format", "model", "benchmark", "source"):
        if getattr(args, option) is not None:  # never silently ignored
            raise SpinError(
                f"--{option} applies only to --reported "
                f"(e.g. spin report --reported --{option} {getattr(args, option)})"
            )
    if args.output_dir is None:
        raise SpinError("give --output-dir (or --reported to print the registry)")
    from spin.report.build import Build

    if args.results_dir is not None:
        from spin.report.results import RESULTS_SCHEMA, scan

        found = scan(args.results_dir)
        for path in found.imported:  # foreign formats are read, and said to be
            print(f"spin report: imported {path} as {RESULTS_SCHEMA}", file=sys.stderr)
        for why in found.unusable:
            print(f"spin report: warning: not imported: {why}", file=sys.stderr)
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
