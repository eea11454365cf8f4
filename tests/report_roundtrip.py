"""Results files that carry the reported numbers themselves.

Feeding them to `spin report` must give delta 0.00 in every comparison cell: an end-to-end
check of the label mapping, the suite-to-table choice and the table layouts. The tests use
it; so can anyone who changes the registry.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from spin.io import write_json
from spin.report import registry


def model_name(label: str, base_model: str) -> str:
    """A results model name for a reported label; unique across base models."""
    return label if base_model == "zephyr-7b-sft-full" else f"{label} ({base_model})"


def write_reported_results(
    reported: pd.DataFrame, out_dir: str | Path, *, stderr: float | None = 1.0, seed: int = 0
) -> list[Path]:
    """One spin-results/1 file per (reported row, suite) of every table a suite is compared with."""
    out_dir = Path(out_dir)
    paths = []
    for suite, parts in registry.SUITE_TABLES.items():
        tasks_of_suite = set(registry.SUITES[suite])
        for source, table in parts:
            sel = reported[(reported["source"] == source) & (reported["table"] == table)]
            for (base, label), g in sel.groupby(["base_model", "model"], sort=False):
                cells = g[g["benchmark"].isin(tasks_of_suite)]
                if cells.empty:
                    continue
                first = g.iloc[0]
                it = None if pd.isna(first["iteration"]) else int(first["iteration"])
                model = {
                    "name": model_name(label, base),
                    "method": first["method"],
                    "iteration": it,
                    "base_model": base,
                    "path": f"reported:{source}/{table}/{label}",
                    "seed": seed,
                }
                size = registry.label_examples(label)
                if size:
                    model["train_examples"] = size
                tasks = {
                    r["benchmark"]: {
                        "metric": r["metric"],
                        "value": float(r["value"]),
                        "stderr": stderr,
                        "n": None,
                        "shots": None if pd.isna(r["shots"]) else int(r["shots"]),
                    }
                    for _, r in cells.iterrows()
                }
                avg = g.loc[g["benchmark"] == "average", "value"]
                obj = {
                    "schema": "spin-results/1",
                    "model": model,
                    "suite": suite,
                    "tasks": tasks,
                    "average": float(avg.iloc[0]) if len(avg) and suite != "mt-bench" else None,
                    "provenance": {
                        "harness": "reported numbers",
                        "git_commit": "none",
                        "seed": seed,
                        "date": "n/a",
                        "hardware": "none",
                        "packages": {},
                        "duration_s": 0,
                        "samples_file": None,
                    },
                }
                slug = "".join(c if c.isalnum() else "_" for c in f"{base}_{label}_{suite}_s{seed}")
                path = out_dir / f"{slug}.json"
                write_json(path, obj)
                paths.append(path)
    return paths


# The demo's 14 results as `spin run replication/tiny.yaml` names them (spin.pipeline.graph:
# θ0 "SFT", continued SFT "SFT + k more SFT epoch(s)", "SPIN iterT", "T-SPIN iterT"), with
# README's seed-42 scores per family: no paper reports suite "tiny" on "tiny-mistral".
DEMO_TASKS = ("tiny_add", "tiny_sort", "tiny_reverse", "tiny_repeat", "tiny_lookup")
DEMO_N = {"tiny_add": 45, "tiny_sort": 50, "tiny_reverse": 55, "tiny_repeat": 52, "tiny_lookup": 48}
DEMO_SCORES = {  # (name, method, iteration): scores in DEMO_TASKS order
    ("SFT", "sft", None): (4.4, 0.0, 0.0, 0.0, 22.9),
    ("SFT + 1 more SFT epoch", "continued_sft", 0): (0.0, 12.0, 0.0, 0.0, 25.0),
    ("SFT + 2 more SFT epochs", "continued_sft", 1): (0.0, 8.0, 0.0, 0.0, 27.1),
    ("SFT + 3 more SFT epochs", "continued_sft", 2): (0.0, 14.0, 0.0, 0.0, 27.1),
    ("SFT + 4 more SFT epochs", "continued_sft", 3): (2.2, 8.0, 0.0, 0.0, 25.0),
    ("SPIN iter0", "spin", 0): (0.0, 6.0, 0.0, 0.0, 22.9),
    ("SPIN iter1", "spin", 1): (2.2, 8.0, 0.0, 0.0, 16.7),
    ("SPIN iter2", "spin", 2): (2.2, 4.0, 0.0, 0.0, 18.8),
    ("SPIN iter3", "spin", 3): (2.2, 6.0, 0.0, 0.0, 18.8),
    ("T-SPIN iter0", "tspin", 0): (2.2, 4.0, 0.0, 0.0, 22.9),
    ("T-SPIN iter1", "tspin", 1): (6.7, 6.0, 0.0, 0.0, 22.9),
    ("T-SPIN iter2", "tspin", 2): (4.4, 6.0, 0.0, 0.0, 22.9),
    ("T-SPIN iter3", "tspin", 3): (4.4, 6.0, 0.0, 0.0, 25.0),
    ("T-SPIN iter4", "tspin", 4): (6.7, 6.0, 0.0, 0.0, 25.0),
}


def write_demo_results(out_dir: str | Path, *, seed: int = 42) -> list[Path]:
    """The tiny demo's results files (one per checkpoint, suite 'tiny'), binomial stderrs."""
    out_dir = Path(out_dir)
    paths = []
    for i, ((name, method, it), scores) in enumerate(DEMO_SCORES.items()):
        tasks = {}
        for task, v in zip(DEMO_TASKS, scores, strict=True):
            n = DEMO_N[task]
            se = 100 * (v / 100 * (1 - v / 100) / n) ** 0.5
            tasks[task] = {"metric": "exact_match", "value": v, "stderr": se, "n": n, "shots": 0}
        obj = {
            "schema": "spin-results/1",
            "model": {
                "name": name,
                "method": method,
                "iteration": it,
                "base_model": "tiny-mistral",
                "seed": seed,
            },
            "suite": "tiny",
            "tasks": tasks,
            "average": round(sum(scores) / len(scores), 2),
            "provenance": {"harness": "spin tiny", "git_commit": "none", "seed": seed},
        }
        path = out_dir / f"{i:02d}-{method}-{it}.json"
        write_json(path, obj)
        paths.append(path)
    return paths
