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
