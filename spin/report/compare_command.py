"""`spin compare`: a new method's results beside a paper table's reported rows and ours.

The new results may be spin-results/1 files or the files researchers already have: stock
lm-eval results, Open LLM Leaderboard v1 results, FastChat MT-Bench judgments, detected by
content (spin.report.imports); converted copies are written to OUTPUT/imported/. Every cell
shows its n and is marked when it is on other data than the papers' rows
(spin.report.compare_table). Where the new results and one of ours both have per-document
scores, a paired bootstrap 95% CI of new − ours is added per task, paired by document content
and only on identical documents; significance follows bootstrap.SIGNIFICANCE_RULE.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = (
    "Put a new method's results (spin-results/1, stock lm-eval results, Open LLM Leaderboard v1 "
    "results or FastChat MT-Bench judgments) beside a paper table's reported rows and our "
    "reproduced rows, with n per cell and paired bootstrap CIs where per-document scores exist."
)
EXAMPLE = (
    "spin compare --results out/my-model/results_2026-01-01T00-00-00.json "
    "--results-dir runs/zephyr/results --against spin-table2"
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
        metavar="FILE",
        help="results file(s) of the new method: spin-results/1, lm-eval results_*.json "
        "(its samples_*.jsonl beside it are used), Open LLM Leaderboard v1 results_*.json or "
        "FastChat *_single.jsonl judgments; repeat for several",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=None,
        help="our reproduced results, searched recursively (optional; any accepted format)",
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
    from spin.errors import SpinError
    from spin.report import imports, registry, results
    from spin.report.registry import PAPER_TABLES

    reported = registry.load(args.reported_dir)
    prefer = PAPER_TABLES[args.against].suites if args.against else ()
    new = [r for p in args.results for r in imports.load_any(p, suites=prefer)]
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
    for line in _warnings(new, new_agg, reported):
        print(f"spin compare: warning: {line}", file=sys.stderr)
    mine = new_agg[new_agg["suite"].isin(spec.suites)]
    if mine.empty:
        raise SpinError(
            f"the new results have suite(s) {sorted(set(new_agg['suite']))}, but "
            f"{key} shows suites {list(spec.suites)}"
        )
    return _write(args, key, spec, reported, new, scan, ours, mine)


def _warnings(new: list[dict], new_agg, reported) -> list[str]:
    """Benchmarks the registry does not know; imported tasks run with other shots than the paper."""
    from spin.errors import nearest
    from spin.report import registry

    out = []
    known = registry.known_benchmarks(reported)
    for bench in sorted(set(new_agg["benchmark"])):
        if bench not in known:
            out.append(f"benchmark '{bench}' is not in the registry{nearest(bench, known)}")
    for r in new:
        for task, s in ((r.get("provenance") or {}).get("shots_differ") or {}).items():
            out.append(
                f"{r['_path']}: {task} ran {s['ran']}-shot, the paper {s['paper']}-shot: "
                "not like for like"
            )
    return out


def _write(args, key, spec, reported, new, scan, ours, mine) -> int:
    from spin.io import atomic_path, write_json, write_jsonl
    from spin.report import bootstrap, compare_figure, compare_table, figures

    frame, missing = compare_table.cells(spec, reported, ours, mine)
    text = compare_table.to_markdown(spec, compare_table.display(frame, spec), missing)
    boot = _bootstrap(new, scan.results, spec, bootstrap, args.resamples, args.seed)
    text += "\n" + _bootstrap_text(boot, args, bool(args.results_dir)) + "\n"
    out = args.output_dir
    out.mkdir(parents=True, exist_ok=True)
    for r in new:  # the converted copies, for the record and for `spin report`
        if r["provenance"].get("imported_from"):
            slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in r["model"]["name"])
            stem = f"{slug}__{r['suite']}"
            obj = {k: v for k, v in r.items() if not k.startswith("_")}
            if r.get("_samples"):
                write_jsonl(out / "imported" / f"{stem}.samples.jsonl", r["_samples"])
                obj["provenance"] = {**obj["provenance"], "samples_file": f"{stem}.samples.jsonl"}
            write_json(out / "imported" / f"{stem}.json", obj)
    for name, content in (
        (f"compare_{key}.md", text),
        (f"compare_{key}.csv", frame.to_csv(index=False)),
        (f"compare_{key}_bootstrap.csv", boot.to_csv(index=False)),
    ):
        with atomic_path(out / name) as tmp:
            Path(tmp).write_text(content, encoding="utf-8")
    print(text)
    figures.configure()
    paths = compare_figure.draw(frame, f"{spec.title}: new method placed", out, f"compare_{key}")
    print(
        f"wrote {out}/compare_{key}.md, .csv, _bootstrap.csv and {', '.join(p.name for p in paths)}"
    )
    return 0


def _bootstrap_text(boot, args, have_ours: bool) -> str:
    from spin.report.bootstrap import SIGNIFICANCE_RULE

    if boot.empty:
        why = (
            "no reproduced results given (--results-dir); the papers print no per-document "
            "scores, so a difference from their rows cannot be tested"
            if not have_ours
            else "no pair of new and reproduced results on the same suite both have "
            "per-document scores (samples)"
        )
        return f"No paired test: {why}. Significance rule: {SIGNIFICANCE_RULE}.\n"
    shown = boot.assign(significant=boot["significant"].map({True: "*", False: ""}))
    return (
        "Paired bootstrap, new − ours, by document content "
        f"({args.resamples} resamples, seed {args.seed}; percentage points, MT-Bench points). "
        f"* = significant. Rule: {SIGNIFICANCE_RULE}.\n\n" + shown.to_markdown(index=False) + "\n"
    )


def _default_table(new: list[dict]) -> str | None:
    suite, base = new[0]["suite"], new[0]["model"]["base_model"]
    if suite == "tspin-10" and base == "mistral-7b-v0.1":
        return "tspin-table4"
    return DEFAULT_TABLE.get(suite)


def _bootstrap(new, ours, spec, bootstrap, resamples, seed):
    """Paired CIs of new − ours for every pair of results (same suite) with per-document scores."""
    import pandas as pd

    frames = []
    mine = [
        o for o in ours if o["suite"] in spec.suites and o["model"]["base_model"] == spec.base_model
    ]
    for n in new:
        n_samples = bootstrap.samples_of(n)
        if n_samples is None:
            continue
        for o in mine:
            if o["suite"] != n["suite"]:
                continue
            o_samples = bootstrap.samples_of(o)
            if o_samples is None:
                continue
            ci = bootstrap.compare_samples(
                n_samples,
                o_samples,
                scale_to_percent=n["suite"] != "mt-bench",
                resamples=resamples,
                seed=seed,
            )
            frames.append(ci.assign(new=n["model"]["name"], ours=o["model"]["name"]))
    if not frames:
        return pd.DataFrame(columns=["new", "ours", *bootstrap.COLUMNS])
    df = pd.concat(frames, ignore_index=True)
    return df[["new", "ours", *bootstrap.COLUMNS]]
