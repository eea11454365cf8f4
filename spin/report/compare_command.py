"""`spin compare`: a new method's results beside a paper table's reported rows and ours.

Where the new results and one of ours both name a per-sample log (provenance.samples_file,
contract in spin.report.bootstrap), it adds a paired bootstrap 95% CI of the difference
new − ours per task (seeded, 10,000 resamples by default) and marks the significant ones.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = (
    "Put a new method's results beside a paper table's reported rows and our reproduced rows, "
    "with paired bootstrap CIs where per-sample logs exist."
)
EXAMPLE = (
    "spin compare --results my_method.json --results-dir runs/zephyr/results --against spin-table2"
)
TABLE_KEYS = ("spin-table2", "spin-table4", "tspin-table1", "tspin-table2", "tspin-table4")
DEFAULT_TABLE = {
    "openllm-v1": "spin-table2",
    "spin-bbh": "spin-table4",
    "mt-bench": "spin-table4",
    "tspin-10": "tspin-table1",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `spin compare`."""
    parser.add_argument(
        "--results",
        type=Path,
        action="append",
        required=True,
        metavar="NEW.json",
        help="results file(s) of the new method (spin-results/1); repeat for several",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=None,
        help="our reproduced results, searched recursively (optional)",
    )
    parser.add_argument(
        "--against",
        choices=TABLE_KEYS,
        default=None,
        help="paper table to compare with (default: from the new results' suite)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path("compare"),
        help="where the table, bootstrap CSV and figure go (default: ./compare)",
    )
    parser.add_argument(
        "--resamples", type=int, default=10_000, help="bootstrap resamples (default 10000)"
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument(
        "--reported-dir",
        type=Path,
        default=None,
        help="directory holding reported_results.csv (default: reports/reported)",
    )


def main(args: argparse.Namespace) -> int:
    """Run `spin compare`."""
    import pandas as pd

    from spin.errors import SpinError, nearest
    from spin.report import bootstrap, registry, results, tables
    from spin.report.registry import DISPLAY, PAPER_TABLES

    reported = registry.load(args.reported_dir)
    new = [results.load_results(p) for p in args.results]
    micro = [r["_path"] for r in new if results.is_micro(r)]
    if micro:  # a random model's scores are no method's numbers
        raise SpinError(
            f"{micro[0]} comes from a `spin run --micro` run: not comparable "
            "with the papers' numbers"
        )
    key = args.against or _default_table(new)
    if key is None:
        raise SpinError(
            f"cannot infer a table from suite '{new[0]['suite']}'; pass --against "
            f"({', '.join(TABLE_KEYS)})"
        )
    spec = PAPER_TABLES[key]
    new_agg = results.aggregate(results.to_frame(new))
    scan = results.scan(args.results_dir) if args.results_dir else results.Scan()
    ours = results.aggregate(results.to_frame(scan.results))
    known = registry.known_benchmarks(reported)
    for bench in sorted(set(new_agg["benchmark"])):
        if bench not in known:
            print(
                f"spin compare: warning: benchmark '{bench}' is not in the registry"
                f"{nearest(bench, known)}",
                file=sys.stderr,
            )

    display, long, missing = tables.paper_table(spec, reported, ours if args.results_dir else None)
    mine = new_agg[new_agg["suite"].isin(spec.suites)]
    if mine.empty:
        raise SpinError(
            f"the new results have suite(s) {sorted(set(new_agg['suite']))}, but "
            f"{key} shows suites {list(spec.suites)}"
        )
    new_rows, new_long = [], []
    for name, g in mine.groupby("name", sort=False):
        vals = g.set_index("benchmark")
        k = int(g["n_seeds"].max())
        cells = {"Model": name, "Run": "new" + (f" ({k} seeds)" if k > 1 else "")}
        for b in spec.benchmarks:
            if b in vals.index:
                cells[DISPLAY.get(b, b)] = tables._fmt(vals.loc[b, "value"], vals.loc[b, "stderr"])
            else:
                cells[DISPLAY.get(b, b)] = tables.DASH
                missing.append(
                    {
                        "table": key,
                        "model": name,
                        "benchmark": b,
                        "missing": "new",
                        "why": "not in the new results",
                    }
                )
            new_long.append(
                {
                    "table": key,
                    "model": name,
                    "run": "new",
                    "benchmark": b,
                    "value": vals.loc[b, "value"] if b in vals.index else None,
                    "stderr": vals.loc[b, "stderr"] if b in vals.index else None,
                    "method": g.iloc[0]["method"],
                }
            )
        for b in sorted(set(vals.index) - set(spec.benchmarks)):
            missing.append(
                {
                    "table": key,
                    "model": name,
                    "benchmark": b,
                    "missing": "table column",
                    "why": f"{key} has no column for it",
                }
            )
        new_rows.append(cells)
    display = pd.concat([display, pd.DataFrame(new_rows)], ignore_index=True)

    boot = _bootstrap(new, scan.results, spec, bootstrap, args.resamples, args.seed)
    out = args.output_dir
    out.mkdir(parents=True, exist_ok=True)
    text = tables.to_markdown(spec, display, missing)
    if not boot.empty:
        marked = boot.assign(significant=boot["significant"].map({True: "*", False: ""}))
        text += (
            "\nPaired bootstrap, new − ours, 95% CI "
            f"({args.resamples} resamples, seed {args.seed}; * = CI excludes 0):\n\n"
        )
        text += marked.to_markdown(index=False) + "\n"
    else:
        text += (
            "\nNo paired bootstrap: per-sample logs (provenance.samples_file) "
            "missing on one side.\n"
        )
    (out / f"compare_{key}.md").write_text(text, encoding="utf-8")
    display.to_csv(out / f"compare_{key}.csv", index=False)
    boot.to_csv(out / f"compare_{key}_bootstrap.csv", index=False)
    print(text)

    from spin.report import figures

    figures.configure()
    lines = _figure_lines(long, reported, spec, ours, pd.DataFrame(new_long))
    paths = figures.placement(lines, f"{spec.title}: new method placed", out, f"compare_{key}")
    print(
        f"wrote {out}/compare_{key}.md, .csv, _bootstrap.csv and {', '.join(p.name for p in paths)}"
    )
    return 0


def _default_table(new: list[dict]) -> str | None:
    suite, base = new[0]["suite"], new[0]["model"]["base_model"]
    if suite == "tspin-10" and base == "mistral-7b-v0.1":
        return "tspin-table4"
    return DEFAULT_TABLE.get(suite)


def _bootstrap(new, ours, spec, bootstrap, resamples, seed):
    """Paired CIs of new − ours for every pair of results files (same suite) with samples."""
    import pandas as pd

    frames = []
    mine = [
        o for o in ours if o["suite"] in spec.suites and o["model"]["base_model"] == spec.base_model
    ]
    for n in new:
        n_path = bootstrap.samples_path(n)
        if n_path is None:
            continue
        n_samples = bootstrap.read_samples(n_path)
        for o in mine:
            o_path = bootstrap.samples_path(o)
            if o["suite"] != n["suite"] or o_path is None:
                continue
            ci = bootstrap.compare_samples(
                n_samples,
                bootstrap.read_samples(o_path),
                scale_to_percent=n["suite"] != "mt-bench",
                resamples=resamples,
                seed=seed,
            )
            frames.append(ci.assign(new=n["model"]["name"], ours=o["model"]["name"]))
    if not frames:
        return pd.DataFrame(
            columns=[
                "new",
                "ours",
                "task",
                "n_paired",
                "unpaired_new",
                "unpaired_base",
                "diff",
                "ci_low",
                "ci_high",
                "significant",
            ]
        )
    df = pd.concat(frames, ignore_index=True)
    return df[["new", "ours", *[c for c in df.columns if c not in ("new", "ours")]]]


def _figure_lines(long, reported, spec, ours, new_long):
    """Rows for the placement figure, labelled 'model (run)', with each row's method."""
    import pandas as pd

    from spin.report import registry

    rep = registry.table_rows(reported, spec)
    method_of = dict(zip(rep["model"], rep["method"], strict=False))
    if not ours.empty:
        method_of.update(dict(zip(ours["name"], ours["method"], strict=False)))
    lines = long.assign(method=long["model"].map(method_of).fillna("other"))
    lines = pd.concat([lines, new_long], ignore_index=True)
    lines["run"] = lines["run"].str.split(" ").str[0]  # "ours (3 seeds)" -> "ours"
    lines["row"] = lines["model"] + " (" + lines["run"] + ")"
    has_value = lines.groupby("row")["value"].transform(lambda v: v.notna().any())
    return lines[has_value][["row", "run", "method", "benchmark", "value", "stderr"]]
