"""The per-task bar grid of one paper table (figures/tasks_KEY.png): every benchmark of the
table in its own panel, iterations on x, reported bars plain and ours hatched.

Bars start at 0 (not a dot plot with an axis break): a bar's length is its value, so a
zoomed axis turned HellaSwag's 82.8 against 84.3 into a threefold gap. At 0 the small
differences look small, as they are; their sizes are in the tables and in the average
curves, whose lines (not bars) may zoom. A row that has a value at this x in another panel
but none in this one is labelled 'n/a', never drawn as a zero-height bar; a score of 0 gets
a tick on the baseline and a '0'.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from spin.report.figures import (
    METHOD_COLORS,
    color,
    label,
    mark_missing,
    mark_zero,
    paper_series,
    registry_metric,
    save,
    sides_caption,
)
from spin.report.registry import DISPLAY, PAPER_TABLES


def _category(x, name: str):
    return x if x is not None else name


def draw_task_bars(reported: pd.DataFrame, ours: pd.DataFrame, key: str) -> plt.Figure:
    """Per-task bars per iteration for one paper table; ours hatched beside reported."""
    spec = PAPER_TABLES[key]
    benches = list(spec.benchmarks)
    per_bench = {b: paper_series(reported, ours, key, b) for b in benches}
    # every row (method, side, name) at every category (iteration, or a non-iterative name),
    # over all panels: one layout for the whole grid
    members: dict[object, list[tuple]] = {}
    for series in per_bench.values():
        for s in series:
            row = (s["method"], s["side"], s["name"])
            for x in s["points"]:
                members.setdefault(_category(x, s["name"]), [])
                if row not in members[_category(x, s["name"])]:
                    members[_category(x, s["name"])].append(row)
    cats = sorted(c for c in members if isinstance(c, int)) + sorted(
        c for c in members if isinstance(c, str)
    )
    order = list(METHOD_COLORS)

    def rank(row: tuple) -> tuple:
        m = row[0]
        return (order.index(m) if m in order else len(order), m, row[1] != "reported")

    slot: dict[tuple, tuple[float, float]] = {}  # (row, category) -> (position, width)
    for i, c in enumerate(cats):
        rows = sorted(members[c], key=rank)
        width = 0.8 / len(rows)
        for j, row in enumerate(rows):
            slot[(row, c)] = (i + (j - (len(rows) - 1) / 2) * width, width)
    ncols = min(4, len(benches))
    nrows = -(-len(benches) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.9 * nrows), squeeze=False)
    handles: dict[str, object] = {}
    drawn = {"sides": set(), "errors": False, "missing": False, "zero": False}
    for ax, bench in zip(axes.flat, benches, strict=False):
        series = per_bench[bench]
        top = 0.0
        seen = set()
        for s in series:  # one bar() call per series: per-bar calls dominate the build time
            row = (s["method"], s["side"], s["name"])
            pos, widths, heights, errs = [], [], [], []
            for x, (v, se) in s["points"].items():
                p, w = slot[(row, _category(x, s["name"]))]
                seen.add((row, _category(x, s["name"])))
                pos.append(p)
                widths.append(w * 0.95)
                heights.append(v)
                errs.append(se if se is not None and not np.isnan(se) else 0.0)
            ours_side = s["side"] == "ours"
            bar = ax.bar(
                pos,
                heights,
                widths,
                color=color(s["method"]),
                alpha=0.55 if ours_side else 0.95,
                hatch="//" if ours_side else None,
                edgecolor="black",
                linewidth=0.4,
                yerr=errs if any(errs) else None,
                capsize=2,
                label=f"{label(s['method'])} ({s['side']})",
            )
            handles.setdefault(f"{label(s['method'])} ({s['side']})", bar)
            zeros = [p for p, h in zip(pos, heights, strict=True) if h == 0]
            mark_zero(ax, zeros, color(s["method"]))
            drawn["zero"] |= bool(zeros)
            drawn["sides"].add(s["side"])
            drawn["errors"] |= any(errs)
            top = max(top, *(h + e for h, e in zip(heights, errs, strict=True)))
        top = top * 1.12 if top > 0 else 1.0
        absent = [(row, c) for (row, c) in slot if (row, c) not in seen]
        for row, c in absent:
            mark_missing(ax, [slot[(row, c)][0]], 0.02 * top, color(row[0]))
        drawn["missing"] |= bool(absent)
        ax.set_ylim(0.0, top)
        xlabels = [("base" if c == -1 else str(c)) if isinstance(c, int) else c for c in cats]
        short = [
            t if len(t) <= 14 else label(members[c][0][0])
            for t, c in zip(xlabels, cats, strict=True)
        ]
        named = any(isinstance(c, str) for c in cats)
        ax.set_xticks(range(len(cats)), short, rotation=30 if named else 0, fontsize=7)
        ax.set_xlim(-0.6, len(cats) - 0.4)
        unit = (
            "score, 1–10" if bench == "mt_bench" else f"{registry_metric(reported, key, bench)}, %"
        )
        ax.set_title(f"{DISPLAY.get(bench, bench)} ({unit})")  # unit in the title: fewer texts
    for ax in axes.flat[len(benches) :]:
        ax.axis("off")
    fig.legend(
        list(handles.values()),
        list(handles.keys()),
        loc="lower center",
        ncol=min(6, len(handles)),
        frameon=False,
    )
    notes = ["y axes start at 0"] + sides_caption(drawn["sides"], drawn["errors"], line=False)
    if drawn["zero"]:
        notes.append("a tick labelled 0: a score of 0")
    if drawn["missing"]:
        notes.append("n/a: no value in the table")
    fig.suptitle(f"{spec.title}: per task\n" + "; ".join(notes))
    fig.supxlabel("iteration (base = starting model)", y=0.07, fontsize=9)
    fig.tight_layout(rect=(0, 0.07, 1, 0.97))
    return fig


def task_bars(reported: pd.DataFrame, ours: pd.DataFrame, key: str, out_dir: Path) -> list[Path]:
    """Draw and save `draw_task_bars`."""
    return save(draw_task_bars(reported, ours, key), out_dir, f"tasks_{key}")
