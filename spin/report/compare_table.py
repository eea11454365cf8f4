"""`spin compare`'s table: the papers' rows, our reproduced rows and the new method's, as numbers.

One long frame holds every cell (``CELL_COLUMNS``): value, stderr, n, a 95% interval and
whether the cell was scored on the same data as the papers' rows. The CSV is that frame; the
Markdown table is rendered from it. Rules:

- every cell shows n, the number of documents scored (MT-Bench: judgments). The papers print
  no n: their rows get the benchmark's full size (``PAPER_N``, the sizes in eval/README.md);
- a cell whose n differs from the paper's is marked ``≠`` (other data: not like for like);
- the interval is value ± 1.96 × stderr (normal approximation); the papers print no stderr,
  so their rows have none.
"""

from __future__ import annotations

import math

import pandas as pd

from spin.report import registry
from spin.report.registry import DISPLAY, TableSpec

DASH = "–"
OTHER_DATA = "≠"
Z95 = 1.959964
# Documents each paper number is scored on (eval/README.md's tables; MT-Bench: 80 questions x 2
# turns of judgments). The papers do not print n; these are the benchmarks' full sizes.
PAPER_N = {
    "arc_challenge": 1172,
    "hellaswag": 10042,
    "truthfulqa_mc2": 817,
    "mmlu": 14042,
    "winogrande": 1267,
    "gsm8k": 1319,
    "bbh_causal_judgement": 187,
    "bbh_formal_fallacies": 250,
    "bbh_sports_understanding": 250,
    "openbookqa": 500,
    "mt_bench": 160,
    "math": 1324,
    "musr": 756,
    "mmlu_pro": 12032,
    "gpqa": 1192,
    "bbh": 5761,
    "ifeval": 541,
}
CELL_COLUMNS = [
    "table",
    "model",
    "run",
    "method",
    "benchmark",
    "value",
    "stderr",
    "n",
    "ci_low",
    "ci_high",
    "same_data_as_paper",
    "n_seeds",
]


def _num(x) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) or pd.isna(x) else float(x)


def _cell(spec, model, run, method, bench, value, stderr, n, n_seeds=None) -> dict:
    value, stderr = _num(value), _num(stderr)
    n = None if n is None or pd.isna(n) else int(n)
    full = PAPER_N.get(bench)
    same = None if n is None or full is None else n == full
    lo = hi = None
    if value is not None and stderr is not None:
        lo, hi = value - Z95 * stderr, value + Z95 * stderr
    return {
        "table": spec.key,
        "model": model,
        "run": run,
        "method": method,
        "benchmark": bench,
        "value": value,
        "stderr": stderr,
        "n": n,
        "ci_low": lo,
        "ci_high": hi,
        "same_data_as_paper": same,
        "n_seeds": n_seeds,
    }


def _rows_of(spec: TableSpec, agg: pd.DataFrame, run: str) -> tuple[list[dict], list[dict]]:
    """Cells of aggregated results (ours or new), one row per model name; and what is missing."""
    cells, missing = [], []
    for name, g in agg.groupby("name", sort=False):
        vals = g.set_index("benchmark")
        k = int(g["n_seeds"].max())
        for b in spec.benchmarks:
            if b in vals.index:
                r = vals.loc[b]
                n = r["n"]
                if b == "average":  # same data only when every part is
                    parts = [
                        PAPER_N.get(x) == _int(vals.loc[x, "n"])
                        for x in spec.benchmarks
                        if x != "average" and x in vals.index
                    ]
                    n = None
                cell = _cell(spec, name, run, r["method"], b, r["value"], r["stderr"], n, k)
                if b == "average":
                    cell["same_data_as_paper"] = all(parts) if parts else None
                cells.append(cell)
            else:
                cells.append(_cell(spec, name, run, g.iloc[0]["method"], b, None, None, None, k))
                missing.append(
                    {
                        "table": spec.key,
                        "model": name,
                        "benchmark": b,
                        "missing": run,
                        "why": f"not in the {run} results",
                    }
                )
        for b in sorted(set(vals.index) - set(spec.benchmarks)):
            missing.append(
                {
                    "table": spec.key,
                    "model": name,
                    "benchmark": b,
                    "missing": "table column",
                    "why": f"{spec.key} has no column for it",
                }
            )
    return cells, missing


def _int(x) -> int | None:
    return None if x is None or pd.isna(x) else int(x)


def cells(
    spec: TableSpec, reported: pd.DataFrame, ours: pd.DataFrame, new: pd.DataFrame
) -> tuple[pd.DataFrame, list[dict]]:
    """Every cell of the comparison (CELL_COLUMNS) and the missing ones, in row order:
    the papers' rows, then ours (same base model and suites as the table), then the new ones."""
    rows: list[dict] = []
    rep = registry.table_rows(reported, spec)
    for label, g in rep.groupby("model", sort=False):
        vals = dict(zip(g["benchmark"], g["value"], strict=True))
        method = g.iloc[0]["method"]
        for b in spec.benchmarks:
            n = PAPER_N.get(b) if b in vals else None
            rows.append(_cell(spec, label, "reported", method, b, vals.get(b), None, n))
    missing: list[dict] = []
    if not ours.empty:
        mine = ours[(ours["base_model"] == spec.base_model) & ours["suite"].isin(spec.suites)]
        got, _ = _rows_of(spec, mine, "ours")
        rows += got
    got, miss = _rows_of(spec, new, "new")
    rows += got
    missing += miss
    return pd.DataFrame(rows, columns=CELL_COLUMNS), missing


def _text(r: pd.Series) -> str:
    if r["value"] is None or pd.isna(r["value"]):
        return DASH
    text = f"{r['value']:.2f}"
    if not pd.isna(r["stderr"]):
        text += f" ± {r['stderr']:.2f}"
    text += (
        f" (n={int(r['n'])})"
        if not pd.isna(r["n"])
        else (" (n=?)" if r["benchmark"] != "average" else "")
    )
    if r["same_data_as_paper"] is False:
        text += f" {OTHER_DATA}"
    return text


def display(frame: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """The cells as the table to read: one row per (model, run), one column per benchmark."""
    out = []
    for (model, run), g in frame.groupby(["model", "run"], sort=False):
        k = g["n_seeds"].dropna()
        label = run + (f" ({int(k.max())} seeds)" if len(k) and k.max() > 1 else "")
        row = {"Model": model, "Run": label}
        for _, r in g.iterrows():
            row[DISPLAY.get(r["benchmark"], r["benchmark"])] = _text(r)
        out.append(row)
    return pd.DataFrame(out)


NOTES = (
    "Values in % (MT-Bench: 1–10). n: documents scored (MT-Bench: judgments); the papers print "
    "no n, so their rows show the benchmark's full size. Other rows: mean ± standard error. "
    f"{OTHER_DATA}: scored on other data than the papers' rows (another n): not like for like. "
    "The CSV holds value, stderr, n and the interval value ± 1.96 stderr as numbers."
)


def to_markdown(spec: TableSpec, table: pd.DataFrame, missing: list[dict]) -> str:
    """Title, table, notes and the missing cells."""
    lines = [
        f"### {spec.title}",
        "",
        table.to_markdown(
            index=False,
            disable_numparse=True,
            colalign=("left", "left") + ("right",) * (table.shape[1] - 2),
        ),
        "",
        NOTES,
    ]
    if missing:
        lines += ["", "Missing cells:"]
        lines += [
            f"- {m['model']} / {m['benchmark']} ({m['missing']}): {m['why']}" for m in missing
        ]
    return "\n".join(lines) + "\n"
