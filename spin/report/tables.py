"""Comparison tables: ours against the reported numbers, in long form and in the papers' layouts.

Conventions used in every table:
- a missing cell prints as "–" and is also listed (``Missing``), never silently dropped;
- ours prints as ``mean ± stderr`` (stderr as defined in spin.report.results);
- the change per iteration is printed in the Average column as the papers do, "(+x.xx)":
  the row's average minus the previous iteration's of the same method; iteration 0 is
  compared with the base model; the ablation without the historical advantage falls back to
  T-SPIN's previous iteration (the two are identical at iteration 0, where beta = 0).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pandas as pd

from spin.method import METHODS
from spin.report import latex, registry
from spin.report.registry import DISPLAY, TableSpec

DASH = "–"
COMPARISON_COLUMNS = [
    "model",
    "benchmark",
    "ours",
    "ours_stderr",
    "reported",
    "source",
    "delta",
    "within_tolerance",
    "reported_model",
    "n_seeds",
    "ours_spread",
    "tolerance",
]


@dataclass(frozen=True)
class Tolerance:
    """|delta| is within tolerance when it is at most `k_se` standard errors of ours; when ours
    has no stderr, `absolute` points are used instead, and with neither the verdict is empty."""

    k_se: float = 2.0
    absolute: float | None = None

    def describe(self) -> str:
        text = f"|ours − reported| ≤ {self.k_se:g} × ours_stderr"
        if self.absolute is not None:
            text += f" (or ≤ {self.absolute:g} points where ours has no stderr)"
        else:
            text += " (left empty where ours has no stderr)"
        return text

    def limit(self, stderr: float) -> float | None:
        if stderr is not None and not math.isnan(stderr):
            return self.k_se * stderr
        return self.absolute


def comparison(
    reported: pd.DataFrame, ours: pd.DataFrame, tol: Tolerance
) -> tuple[pd.DataFrame, list[dict]]:
    """One row per (our model, benchmark) that has a reported value; plus the unmatched cells.

    `ours` is the aggregated frame from spin.report.results.aggregate.
    """
    rows, unmatched = [], []
    if ours.empty:
        return pd.DataFrame(columns=COMPARISON_COLUMNS), unmatched
    for (name, suite), g in ours.groupby(["name", "suite"], sort=False):
        first = g.iloc[0]
        iteration = None if pd.isna(first["iteration"]) else int(first["iteration"])
        rep = registry.lookup(
            reported,
            suite,
            first["base_model"],
            first["method"],
            iteration,
            first["train_examples"],
        )
        rep_by_bench = {r["benchmark"]: r for r in rep.to_dict("records")}
        for o in g.to_dict("records"):  # records, not iterrows: pandas Series per row is slow
            r = rep_by_bench.get(o["benchmark"])
            if r is None:
                unmatched.append(
                    {
                        "table": "comparison",
                        "model": name,
                        "benchmark": o["benchmark"],
                        "missing": "reported",
                        "why": "no reported value for this model "
                        f"(method={first['method']}, iteration={iteration}, suite={suite})",
                    }
                )
                continue
            delta = round(o["value"] - r["value"], 2)
            limit = tol.limit(o["stderr"])
            rows.append(
                {
                    "model": name,
                    "benchmark": o["benchmark"],
                    "ours": round(o["value"], 2),
                    "ours_stderr": None if math.isnan(o["stderr"]) else round(o["stderr"], 2),
                    "reported": r["value"],
                    "source": f"{r['source']}, {r['table']}",
                    "delta": delta,
                    "within_tolerance": None if limit is None else bool(abs(delta) <= limit + 1e-9),
                    "reported_model": r["model"],
                    "n_seeds": int(o["n_seeds"]),
                    "ours_spread": round(o["spread"], 2),
                    "tolerance": None if limit is None else round(limit, 2),
                }
            )
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS), unmatched


def _fmt(value: float | None, stderr: float | None = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    if stderr is not None and not math.isnan(stderr):
        return f"{value:.2f} ± {stderr:.2f}"
    return f"{value:.2f}"


def _previous(key: tuple[str, int | None], present: dict) -> tuple | None:
    """The row a change per iteration is measured against (see the module docstring)."""
    method, it = key
    if it is None:
        return None
    candidates = [(method, it - 1)] if it > 0 else [("sft", None)]
    parent = METHODS[method].parent if method in METHODS else None
    if parent:  # the ablation (tspin_noha) is also measured against T-SPIN's previous row
        candidates.append((parent, it - 1) if it > 0 else ("sft", None))
    return next((c for c in candidates if c in present), None)


def paper_table(
    spec: TableSpec, reported: pd.DataFrame, ours: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, list[dict]]:
    """A paper table with ours beside the reported rows.

    Returns (display frame with formatted cells, long numeric frame, missing cells). With
    `ours` None the table holds the reported rows only (the reported-only build).
    """
    rep = registry.table_rows(reported, spec)
    benches = list(spec.benchmarks)
    lines: list[dict] = []  # each: label, run, key, values{bench: (v, se)}, n_seeds
    placed: set[str] = set()
    mine = pd.DataFrame()
    if ours is not None and not ours.empty:
        mine = ours[(ours["base_model"] == spec.base_model) & ours["suite"].isin(spec.suites)]
    # each of our models once: (name, method, iteration, train_examples)
    ours_ids = (
        [
            (n, h.iloc[0]["method"], _it(h.iloc[0]), h.iloc[0]["train_examples"])
            for n, h in mine.groupby("name", sort=False)
        ]
        if not mine.empty
        else []
    )
    for (_, _, label), g in rep.groupby(["source", "table", "model"], sort=False):
        first = g.iloc[0]
        it = None if pd.isna(first["iteration"]) else int(first["iteration"])
        key = (first["method"], it)
        vals = {b: (v, None) for b, v in zip(g["benchmark"], g["value"], strict=True)}
        lines.append({"label": label, "run": "reported", "key": key, "values": vals})
        if ours is None:
            continue
        names = [n for n, m, i, te in ours_ids if registry.matches(first, m, i, te)]
        if not names:
            lines.append({"label": label, "run": "ours", "key": key, "values": {}, "absent": True})
        for n in names:
            placed.add(n)
            lines.append(_ours_line(label, key, mine[mine["name"] == n]))
    if ours is not None:  # our models with no reported row in this table: appended, not dropped
        for n, h in mine.groupby("name", sort=False):
            if n not in placed:
                lines.append(_ours_line(n, (h.iloc[0]["method"], _it(h.iloc[0])), h, extra=True))
    return _assemble(spec, benches, lines)


def _it(row: pd.Series) -> int | None:
    return None if pd.isna(row["iteration"]) else int(row["iteration"])


def _ours_line(label: str, key: tuple, h: pd.DataFrame, extra: bool = False) -> dict:
    vals = {b: (v, s) for b, v, s in zip(h["benchmark"], h["value"], h["stderr"], strict=True)}
    k = int(h["n_seeds"].max())
    run = "ours" + (f" ({k} seeds)" if k > 1 else "") + (" – no reported row" if extra else "")
    return {"label": label, "run": run, "key": key, "values": vals, "name": h.iloc[0]["name"]}


def _assemble(spec: TableSpec, benches: list[str], lines: list[dict]):
    display, long, missing = [], [], []
    for side in ("reported", "ours"):
        present = {ln["key"]: ln for ln in lines if ln["run"].startswith(side) and ln["values"]}
        for ln in lines:
            if not ln["run"].startswith(side):
                continue
            prev = _previous(ln["key"], present)
            ln["change"] = None
            if spec.has_average and prev is not None and "average" in ln["values"]:
                before = present[prev]["values"].get("average")
                if before is not None:
                    ln["change"] = ln["values"]["average"][0] - before[0]
    for ln in lines:
        cells = {"Model": ln["label"], "Run": ln["run"]}
        for b in benches:
            v, se = ln["values"].get(b, (None, None))
            text = _fmt(v, se)
            if b == "average" and ln.get("change") is not None and v is not None:
                text += f" ({ln['change']:+.2f})"
            cells[DISPLAY.get(b, b)] = text
            long.append(
                {
                    "table": spec.key,
                    "model": ln["label"],
                    "run": ln["run"],
                    "benchmark": b,
                    "value": v,
                    "stderr": se,
                    "change": ln.get("change") if b == "average" else None,
                }
            )
            if v is None and not ln.get("absent"):
                missing.append(
                    {
                        "table": spec.key,
                        "model": ln["label"],
                        "benchmark": b,
                        "missing": ln["run"],
                        "why": "no value for this cell",
                    }
                )
        if ln.get("absent"):
            missing.append(
                {
                    "table": spec.key,
                    "model": ln["label"],
                    "benchmark": "(all)",
                    "missing": "ours",
                    "why": "no results file for this model",
                }
            )
        display.append(cells)
    return pd.DataFrame(display), pd.DataFrame(long), missing


def describe(display: pd.DataFrame, *, missing_listed: bool = False, bold: bool = False) -> str:
    """The notes under a table, each only when the table holds what it explains."""
    values = display.drop(columns=[c for c in ("Model", "Run") if c in display.columns])
    cells = [str(v) for col in values.columns for v in values[col]]
    notes = [
        "Values in %, MT-Bench on its 1–10 scale."
        if "MT-Bench" in values.columns
        else "Values in %."
    ]
    if DASH in cells:
        notes.append(
            f"'{DASH}' marks a missing cell"
            + (" (listed below the table)." if missing_listed else ".")
        )
    if "Average" in values.columns and any("(" in str(v) for v in values["Average"]):
        notes.append(
            "Average column: in parentheses, the change from the previous iteration of the same "
            "method (iteration 0: from the base model), as the papers print it."
        )
    runs = set(display["Run"]) - {"reported"} if "Run" in display.columns else set()
    if runs:
        who = "Ours" if all(r.startswith("ours") for r in runs) else "Rows other than 'reported'"
        notes.append(f"{who}: mean ± standard error.")
    if bold:
        notes.append("Bold: the best value in each column.")
    return " ".join(notes)


def to_markdown(spec: TableSpec, display: pd.DataFrame, missing: list[dict]) -> str:
    """The table as Markdown: title, table, notes and the list of missing cells."""
    out = [
        f"### {spec.title}",
        "",
        display.to_markdown(
            index=False,
            disable_numparse=True,
            colalign=("left", "left") + ("right",) * (display.shape[1] - 2),
        ),
        "",
        describe(display, missing_listed=bool(missing)),
    ]
    if missing:
        out += ["", "Missing cells:"]
        out += [f"- {m['model']} / {m['benchmark']} ({m['missing']}): {m['why']}" for m in missing]
    return "\n".join(out) + "\n"


def to_latex(spec: TableSpec, display: pd.DataFrame, *, columns: str = "") -> str:
    """The table as a LaTeX float (booktabs, best value per column in bold, fits the text
    width); `columns` adds a sentence on the columns' metrics to the caption."""
    caption = f"{spec.title}. {describe(display, bold=bool(latex.best_cells(display)))}"
    if columns:
        caption += f" {columns}"
    return latex.table(display, caption=caption, label=f"tab:{spec.key}", comment=spec.title)


def registry_tables(reported: pd.DataFrame) -> list[tuple[TableSpec, pd.DataFrame, str]]:
    """Every table the registry holds, one per (source, table, base model), in the file's
    order, laid out like the papers' (one row per model, one column per benchmark, the
    average last). Returns (spec, display frame, a sentence naming each column's metric)."""
    out = []
    groups = reported.groupby(["source", "table", "base_model"], sort=False)
    for (source, table, base), g in groups:
        benches = list(dict.fromkeys(b for b in g["benchmark"] if b != "average"))
        if "average" in set(g["benchmark"]):
            benches.append("average")
        short = f"{source.split(' (')[0]} {table.split(' (')[0]} {base}"
        key = re.sub(r"[^a-z0-9]+", "-", short.lower()).strip("-")
        spec = TableSpec(
            key, f"{source}, {table}: {base}", base, (), tuple(benches), ((source, table, None),)
        )
        display, _, _ = paper_table(spec, g)
        firsts = g.drop_duplicates("benchmark")
        metrics = [
            f"{DISPLAY.get(b, b)} {'' if pd.isna(s) else f'{s}-shot '}{m}"
            for b, m, s in zip(firsts["benchmark"], firsts["metric"], firsts["shots"], strict=True)
            if b != "average"
        ]
        out.append((spec, display, "Metrics: " + "; ".join(metrics) + "." if metrics else ""))
    return out
