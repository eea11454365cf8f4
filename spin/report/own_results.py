"""Our results that no paper table holds: their own tables and figures.

A results file whose (base model, suite) pair is in none of the papers' tables (the tiny
demo's `tiny` suite on `tiny-mistral`, a new benchmark suite, a new base model) would
otherwise show up only as "no reported value" rows. Each such pair gets a table in the
papers' layout (spin.report.tables, so the same "mean ± stderr", '–' and change-per-
iteration conventions) and a figure with one panel per benchmark, iterations on x.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import FixedLocator

from spin.report import figures, tables
from spin.report.figures import NA, color, label, mark_missing, save, value_limits
from spin.report.registry import DISPLAY, PAPER_TABLES, TableSpec

# A (source, table) that selects no reported row: every model becomes a line of ours.
NO_REPORTED = (("(none)", "(none)", None),)
NO_ROW = " – no reported row"  # tables.paper_table's suffix; redundant in a table of ours only


@dataclass
class OwnTable:
    """One (base model, suite) pair of ours with no paper table."""

    spec: TableSpec
    frame: pd.DataFrame  # the aggregated rows of this pair, ordered
    display: pd.DataFrame
    long: pd.DataFrame
    missing: list[dict]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _order(frame: pd.DataFrame) -> pd.DataFrame:
    """θ0 (sft) first, then each method's iterations in order, methods in colour order."""
    rank = {m: i for i, m in enumerate(figures.METHOD_COLORS)}
    key = frame.assign(
        _m=frame["method"].map(lambda m: rank.get(m, len(rank))),
        _i=frame["iteration"].astype("Float64").fillna(-1.0),
    )
    return key.sort_values(["_m", "method", "_i", "name"], kind="stable").drop(columns=["_m", "_i"])


def unplaced_pairs(ours: pd.DataFrame) -> list[tuple[str, str]]:
    """(base_model, suite) pairs of ours that no paper table covers, in order of appearance."""
    if ours.empty:
        return []
    covered = {(s.base_model, suite) for s in PAPER_TABLES.values() for suite in s.suites}
    pairs = ours[["base_model", "suite"]].drop_duplicates().itertuples(index=False)
    return [(b, s) for b, s in pairs if (b, s) not in covered]


def own_tables(reported: pd.DataFrame, ours: pd.DataFrame) -> list[OwnTable]:
    """A table for every (base model, suite) pair of ours outside the papers' tables."""
    out = []
    for base, suite in unplaced_pairs(ours):
        frame = _order(ours[(ours["base_model"] == base) & (ours["suite"] == suite)])
        benches = list(dict.fromkeys(b for b in frame["benchmark"] if b != "average"))
        if (frame["benchmark"] == "average").any():
            benches.append("average")
        spec = TableSpec(
            key=f"results-{_slug(suite)}-{_slug(base)}",
            title=f"Our results: suite {suite}, base model {base} (no paper reports these)",
            base_model=base,
            suites=(suite,),
            benchmarks=tuple(benches),
            parts=NO_REPORTED,
        )
        display, long, missing = tables.paper_table(spec, reported, frame)
        display["Run"] = display["Run"].str.replace(NO_ROW, "", regex=False)
        long["run"] = long["run"].str.replace(NO_ROW, "", regex=False)
        for m in missing:
            m["missing"] = m["missing"].replace(NO_ROW, "")
        out.append(OwnTable(spec, frame, display, long, missing))
    return out


def _x(row: pd.Series) -> int | None:
    """x of a model: its iteration; θ0 (sft without iteration) at -1; other models None."""
    if pd.isna(row["iteration"]):
        return -1 if row["method"] == "sft" else None
    return int(row["iteration"])


def draw_figure(table: OwnTable) -> plt.Figure:
    """One panel per benchmark: each method's score per iteration, starting from θ0; a
    model with no iteration (other than θ0) is a horizontal line; ± 1 stderr bars."""
    frame = table.frame.assign(x=[_x(r) for _, r in table.frame.iterrows()])
    benches = list(table.spec.benchmarks)
    ncols = min(3, len(benches))
    nrows = -(-len(benches) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.3 * nrows), squeeze=False)
    theta0 = frame[(frame["method"] == "sft") & (frame["x"] == -1)]
    present = {  # every (method, x) with a value in some panel: absent elsewhere = missing
        (m, x) for m, x in frame[["method", "x"]].itertuples(index=False) if x is not None
    }
    xs_all = sorted({x for _, x in present})
    # methods side by side at each x (a dodge of a few hundredths), so error bars do not
    # hide each other; θ0 is one point that every line starts from
    lines = [m for m in dict.fromkeys(frame["method"]) if m != "sft"]
    dodge = {m: (j - (len(lines) - 1) / 2) * 0.07 for j, m in enumerate(lines)}
    errors = missing_drawn = False
    for ax, bench in zip(axes.flat, benches, strict=False):
        b = frame[frame["benchmark"] == bench]
        start = theta0[theta0["benchmark"] == bench]
        values: list[float] = []
        for method, g in b.groupby("method", sort=False):
            pts = g[g["x"].notna() & (g["x"] != -1)].sort_values("x")
            xs = [x + dodge.get(method, 0.0) for x in pts["x"]]
            ys, se = list(pts["value"]), list(pts["stderr"].astype(float).fillna(0.0))
            if method != "sft" and not start.empty and xs:  # from θ0, as the papers' curves
                xs, ys = [-1.0, *xs], [float(start["value"].iloc[0]), *ys]
                se = [0.0, *se]  # θ0's own error bar is drawn once, with its point
            if xs:
                ax.errorbar(
                    xs,
                    ys,
                    yerr=se if any(se) else None,
                    label=label(method),
                    color=color(method),
                    marker="o",
                    markersize=4,
                    capsize=2,
                )
                values += [y - e for y, e in zip(ys, se, strict=True)]
                values += [y + e for y, e in zip(ys, se, strict=True)]
                errors |= any(se)
            for _, r in g[g["x"].isna()].iterrows():
                ax.axhline(r["value"], color=color(method), linewidth=1.2, label=r["name"])
                values.append(r["value"])
        for _, r in start.iterrows():
            se0 = 0.0 if pd.isna(r["stderr"]) else float(r["stderr"])
            ax.errorbar(
                [-1.0],
                [r["value"]],
                yerr=[se0] if se0 else None,
                color=color("sft"),
                marker="D",
                markersize=6,
                capsize=2,
                zorder=5,
                label=f"θ0 ({r['name']})",
            )
            values += [r["value"] - se0, r["value"] + se0]
            errors |= bool(se0)
        if values and not any(values):
            ax.text(
                0.5,
                0.5,
                "every model scores 0",
                transform=ax.transAxes,
                ha="center",
                fontsize=8,
                color="#555",
            )
        lo, hi = value_limits(values or [0.0], floor=0.0, min_span=5.0)
        ax.set_ylim(lo, hi)
        have = {(m, x) for m, x in b[["method", "x"]].itertuples(index=False) if x is not None}
        for method, x in sorted(present - have, key=str):
            mark_missing(ax, [x], lo + 0.03 * (hi - lo), color(method))
            missing_drawn = True
        ax.xaxis.set_major_locator(FixedLocator(xs_all))
        ax.set_xticks(xs_all, ["θ0" if x == -1 else str(x) for x in xs_all])
        ax.set_xlim(min(xs_all, default=0) - 0.4, max(xs_all, default=0) + 0.4)
        metric = b["metric"].dropna()
        unit = "mean, %" if bench == "average" else f"{metric.iloc[0]}, %" if len(metric) else "%"
        ax.set_title(f"{DISPLAY.get(bench, bench)} ({unit})")
        ax.set_xlabel("iteration (θ0 = starting model)")
    for ax in axes.flat[len(benches) :]:
        ax.axis("off")
    handles, labels = {}, []
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in handles:
                handles[lab] = h
                labels.append(lab)
    fig.legend(
        [handles[k] for k in labels],
        labels,
        loc="lower center",
        ncol=min(6, len(labels)),
        frameon=False,
    )
    seeds = int(table.frame["n_seeds"].max())
    notes = [f"{seeds} seeds (mean)" if seeds > 1 else "one seed"]
    if errors:
        notes.append("bars: ± 1 stderr")
    if missing_drawn:
        notes.append(f"{NA}: no value")
    fig.suptitle(f"{table.spec.title}\n" + "; ".join(notes))
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def figure(table: OwnTable, out_dir: Path) -> list[Path]:
    """Draw and save `draw_figure` as results_<key>.{png,svg}."""
    return save(draw_figure(table), out_dir, figure_stem(table))


def figure_stem(table: OwnTable) -> str:
    """The figure's file stem: the table key (already prefixed 'results-')."""
    return table.spec.key


def caption(table: OwnTable) -> str:
    """The HTML caption of the table's figure."""
    return f"Per-benchmark scores per iteration, {table.spec.title}"
