"""`spin compare`'s figure: per benchmark, one horizontal bar per row of the comparison, with
its 95% interval and its n.

Reported rows are plain bars without an interval (the papers print no stderr), ours hatched,
the new method outlined in black. A cell scored on other data than the papers' rows (another
n) gets a red dashed outline and ``≠`` before its n: its bar is not like for like.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from spin.report.registry import DISPLAY

OTHER_DATA_COLOR = "#d62728"


def draw(frame: pd.DataFrame, title: str, out_dir: Path, stem: str) -> list[Path]:
    """`frame`: spin.report.compare_table's cells (CELL_COLUMNS). Writes stem.png and .svg."""
    from spin.report import figures

    plt = figures.plt
    lines = frame.assign(row=frame["model"] + " (" + frame["run"] + ")")
    has_value = lines.groupby("row")["value"].transform(lambda v: v.notna().any())
    lines = lines[has_value]
    benches = list(dict.fromkeys(lines["benchmark"]))
    order = list(dict.fromkeys(lines["row"]))
    ncols = min(3, len(benches))
    nrows = -(-len(benches) // ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(5.2 * ncols, 0.3 * len(order) * nrows + 1.8),
        squeeze=False,
        sharey=True,
    )
    for ax, bench in zip(axes.flat, benches, strict=False):
        d = lines[lines["benchmark"] == bench].set_index("row").reindex(order)
        lows, highs = [], []
        for y, (_, r) in enumerate(d.iterrows()):
            if pd.isna(r["value"]):
                continue
            run, other = r["run"], r["same_data_as_paper"] is False
            ax.barh(
                y,
                r["value"],
                color=figures.color(r["method"]),
                hatch="//" if run == "ours" else None,
                alpha=0.55 if run == "ours" else 0.9,
                edgecolor=OTHER_DATA_COLOR if other else "black",
                linestyle="--" if other else "-",
                linewidth=1.6 if run == "new" or other else 0.3,
            )
            right = r["value"]
            if not pd.isna(r["ci_low"]):
                ax.errorbar(
                    r["value"],
                    y,
                    xerr=[[r["value"] - r["ci_low"]], [r["ci_high"] - r["value"]]],
                    color="black",
                    capsize=3,
                    linewidth=1.0,
                )
                lows.append(r["ci_low"])
                highs.append(r["ci_high"])
                right = r["ci_high"]
            highs.append(r["value"])
            lows.append(r["value"])
            if not pd.isna(r["n"]):
                ax.annotate(
                    (f"{'≠ ' if other else ''}n={int(r['n'])}"),
                    (right, y),
                    xytext=(3, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize=6,
                    color=OTHER_DATA_COLOR if other else "#333333",
                )
        if lows:
            lo, hi = min(lows), max(highs)
            pad = max(0.5, 0.12 * (hi - lo))
            ax.set_xlim(max(0.0, lo - 2 * pad), hi + 3 * pad)
        ax.set_title(DISPLAY.get(bench, bench))
        ax.set_xlabel("score (1–10)" if bench == "mt_bench" else "score (%)")
        ax.set_yticks(range(len(order)), order, fontsize=7)
        ax.set_ylim(len(order) - 0.5, -0.5)  # first row on top; idempotent with sharey
    for ax in axes.flat[len(benches) :]:
        ax.axis("off")
    fig.suptitle(
        f"{title}\nplain: reported (no interval printed), hatched: ours, thick outline: new; "
        "whiskers: 95% interval (± 1.96 stderr); red dashed, ≠: other data than the papers' "
        "rows (x axes do not start at 0)",
        fontsize=9,
    )
    fig.tight_layout()
    return figures.save(fig, out_dir, stem)
