"""Figures (PNG and SVG, matplotlib), reproducible byte for byte.

Determinism: the Agg backend, fonts restricted to the DejaVu files bundled with matplotlib
(so a system font cannot change the output), a fixed ``svg.hashsalt``, and no Date/Software
metadata. Style: one colour per method in every figure (``color``); reported numbers are
solid lines / plain bars, ours dashed lines / hatched bars with stderr error bars.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless and deterministic; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import font_manager  # noqa: E402

from spin import method as methods  # noqa: E402
from spin.method import METHODS  # noqa: E402
from spin.report import registry  # noqa: E402
from spin.report.registry import PAPER_TABLES  # noqa: E402

METHOD_COLORS = {
    "sft": "#7f7f7f",
    "continued_sft": "#8c564b",
    "dpo": "#bcbd22",
    "spin": "#1f77b4",
    "tspin": "#d62728",
    "tspin_noha": "#9467bd",
    "tspin_ref": "#2ca02c",
}
_EXTRA_COLORS = ("#17becf", "#e377c2", "#ff7f0e", "#000000", "#006d2c", "#e6550d")
FORMATS = ("png", "svg")
NA = "n/a"  # the mark of a missing value, in every figure
SAVE_METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None}}


def color(method: str) -> str:
    """The method's colour; new methods get a stable colour from their name (crc32, not hash())."""
    return (
        METHOD_COLORS.get(method) or _EXTRA_COLORS[zlib.crc32(method.encode()) % len(_EXTRA_COLORS)]
    )


def label(method: str) -> str:
    """A method's legend name (spin.method's `legend`)."""
    return methods.label(method)


def configure() -> None:
    """Fix everything that could make two renders differ."""
    data = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    fm = font_manager.fontManager
    fm.ttflist = [f for f in fm.ttflist if Path(f.fname).parent == data]  # bundled fonts only
    matplotlib.rcParams.update(
        {
            "font.family": "DejaVu Sans",
            "font.size": 9,
            "svg.hashsalt": "spin-report",
            "svg.fonttype": "path",
            "figure.dpi": 100,
            "savefig.dpi": 110,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "legend.fontsize": 8,
            "axes.titlesize": 10,
            "image.interpolation": "none",
        }
    )


def save(fig: plt.Figure, out_dir: Path, stem: str) -> list[Path]:
    """Write stem.png and stem.svg; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in FORMATS:
        path = out_dir / f"{stem}.{fmt}"
        fig.savefig(
            path, format=fmt, metadata=SAVE_METADATA[fmt]
        )  # no bbox "tight": it costs a draw
        paths.append(path)
    plt.close(fig)
    return paths


def _it(x) -> int | None:
    return None if pd.isna(x) else int(x)


def paper_series(reported: pd.DataFrame, ours: pd.DataFrame, key: str, bench: str) -> list[dict]:
    """Per (method, side) points {x: (value, stderr)} of one benchmark in one paper table.
    x is the iteration; the base model is x = -1; non-iterative rows get x = None."""
    spec = PAPER_TABLES[key]
    out: dict[tuple, dict] = {}
    rep = registry.table_rows(reported, spec)
    for _, r in rep[rep["benchmark"] == bench].iterrows():
        x = -1 if r["method"] == "sft" else _it(r["iteration"])
        out.setdefault((r["method"], "reported", r["model"] if x is None else ""), {})[x] = (
            r["value"],
            None,
        )
    if not ours.empty:
        mine = ours[
            (ours["base_model"] == spec.base_model)
            & ours["suite"].isin(spec.suites)
            & (ours["benchmark"] == bench)
        ]
        for _, o in mine.iterrows():
            x = -1 if o["method"] == "sft" else _it(o["iteration"])
            if o["method"] in registry.NON_ITERATIVE and o["method"] != "sft":
                x = None
            extra = o["name"] if x is None else ""
            out.setdefault((o["method"], "ours", extra), {})[x] = (o["value"], o["stderr"])
    return [{"method": m, "side": s, "name": n, "points": p} for (m, s, n), p in out.items()]


def value_limits(
    values: list[float],
    *,
    floor: float | None = None,
    min_span: float = 0.0,
    rel_span: float = 0.0,
    pad: float = 0.08,
) -> tuple[float, float]:
    """Limits for a line plot's value axis: the data's range widened to at least
    max(`min_span`, `rel_span` × the largest |value|) (a near-constant series otherwise gets
    matplotlib's ±0.04 window around its value, which reads as a swing; the relative rule
    keeps small quantities such as a β-scaled reward readable), then padded by `pad` of the
    span. With `floor` (e.g. 0 for scores) the range does not extend below it except for the
    padding, which keeps a line at the floor off the axis spine."""
    lo, hi = float(min(values)), float(max(values))
    least = max(min_span, rel_span * max(abs(lo), abs(hi))) or 1.0
    if hi - lo < least:
        mid = (lo + hi) / 2
        lo, hi = mid - least / 2, mid + least / 2
    if floor is not None and lo < floor <= min(values):
        lo, hi = floor, hi + (floor - lo)  # shift up, keeping the span
    margin = pad * (hi - lo)
    return lo - margin, hi + margin


def mark_missing(ax, xs: list[float], y: float, rgb: str) -> None:
    """An 'n/a' label at each x: a cell with no value, drawn apart from a score of 0."""
    for x in xs:
        ax.text(
            x,
            y,
            NA,
            rotation=90,
            ha="center",
            va="bottom",
            fontsize=7,
            fontweight="bold",
            color=rgb,
            gid="missing",
        )


def mark_zero(ax, xs: list[float], rgb: str) -> None:
    """A thick tick on the baseline and a '0' above it: a bar of height 0 is otherwise
    invisible, and must not look like a missing value."""
    if not xs:
        return
    ax.plot(
        xs,
        [0.0] * len(xs),
        linestyle="none",
        marker="_",
        markersize=9,
        mew=2.5,
        color=rgb,
        clip_on=False,
        gid="zero",
    )
    for x in xs:
        ax.annotate(
            "0",
            (x, 0.0),
            textcoords="offset points",
            xytext=(0, 6),
            ha="center",
            fontsize=6,
            color=rgb,
        )


def sides_caption(sides: set[str], errors: bool, line: bool) -> list[str]:
    """How reported and ours are told apart, naming only the sides drawn."""
    out = []
    if "reported" in sides:
        out.append("reported: solid lines" if line else "reported: plain bars")
    if "ours" in sides:
        text = "ours: dashed lines" if line else "ours: hatched bars"
        out.append(text + (", ± 1 stderr" if errors else ""))
    return out


def _plot_lines(ax, series: list[dict]) -> bool:
    """Lines per (method, side); each iterative line starts from its side's base model (the
    papers' curves do), the ablation from T-SPIN iteration 0 (identical there, beta = 0).
    Returns whether any error bar was drawn."""
    start = {(s["side"], s["method"]): s["points"] for s in series if None not in s["points"]}
    errors = False
    for s in series:
        pts = dict(s["points"])
        if s["method"] not in registry.NON_ITERATIVE and None not in pts and -1 not in pts:
            parent = METHODS[s["method"]].parent if s["method"] in METHODS else None
            if parent and 0 not in pts and 0 in start.get((s["side"], parent), {}):
                pts[0] = start[(s["side"], parent)][0]
            elif -1 in start.get((s["side"], "sft"), {}):
                pts[-1] = start[(s["side"], "sft")][-1]
        style = {"color": color(s["method"]), "linestyle": "-" if s["side"] == "reported" else "--"}
        name = f"{s['name'] or label(s['method'])} ({s['side']})"
        if None in pts:  # a non-iterative model: a horizontal reference line
            ax.axhline(pts[None][0], linewidth=1.2, label=name, **style)
            continue
        xs = sorted(pts)
        ys = [pts[x][0] for x in xs]
        err = [pts[x][1] if pts[x][1] is not None and not np.isnan(pts[x][1]) else 0.0 for x in xs]
        errors |= any(err)
        if s["method"] == "sft":
            style["linestyle"] = "none"
        ax.errorbar(
            xs,
            ys,
            yerr=err if any(err) else None,
            marker="o" if s["side"] == "reported" else "s",
            markersize=4,
            capsize=3,
            label=name,
            **style,
        )
    return errors


def draw_average_over_iterations(reported: pd.DataFrame, ours: pd.DataFrame) -> plt.Figure:
    """The papers' curves: average score per iteration for each method, reported vs ours.
    Lines, not bars: position, not length, carries the value, so the zoomed axes are honest."""
    panels = [
        ("spin-table2", "average", "average score (%)"),
        ("tspin-table1", "average", "average score (%)"),
        ("tspin-table4", "average", "average score (%)"),
        ("spin-table4", "mt_bench", "MT-Bench score (1–10)"),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(15, 8.5))
    sides, errors = set(), False
    for ax, (key, bench, ylabel) in zip(axes.flat, panels, strict=True):
        series = paper_series(reported, ours, key, bench)
        if key == "tspin-table1":  # the ablation lives in Table 2 but belongs on the same axes
            series += [
                s
                for s in paper_series(reported, ours, "tspin-table2", bench)
                if s["method"] == "tspin_noha" and s["side"] == "reported"
            ]  # ours: already in
        sides |= {s["side"] for s in series}
        errors |= _plot_lines(ax, series)
        ax.set_title(PAPER_TABLES[key].title.split(":")[0] + f" ({PAPER_TABLES[key].base_model})")
        ax.set_xlabel("iteration (base = starting model)")
        ax.set_ylabel(ylabel)
        ax.set_xticks(range(-1, 5), ["base", "0", "1", "2", "3", "4"])
        if series:  # outside the axes: the lines stay visible
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    fig.suptitle(
        "Average score over self-play iterations ("
        + "; ".join(sides_caption(sides, errors, line=True))
        + ")"
    )
    fig.tight_layout()
    return fig


def average_over_iterations(
    reported: pd.DataFrame, ours: pd.DataFrame, out_dir: Path
) -> list[Path]:
    """Draw and save `draw_average_over_iterations`."""
    return save(draw_average_over_iterations(reported, ours), out_dir, "average_over_iterations")


def registry_metric(reported: pd.DataFrame, key: str, bench: str) -> str:
    """The metric a table reports for a benchmark (e.g. acc_norm), for axis labels."""
    rows = registry.table_rows(reported, PAPER_TABLES[key])
    metrics = rows.loc[rows["benchmark"] == bench, "metric"]
    return "mean" if bench == "average" or metrics.empty else str(metrics.iloc[0])


def mtbench_radar(ours: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Draw and save `draw_mtbench_radar`."""
    return save(draw_mtbench_radar(ours), out_dir, "mtbench_radar")


def draw_mtbench_radar(ours: pd.DataFrame) -> plt.Figure:
    """MT-Bench score per category (the SPIN paper's Figure 6), one polygon per model."""
    cats = list(registry.MT_BENCH_CATEGORIES)
    mine = ours[(ours["suite"] == "mt-bench") & ours["benchmark"].isin(cats)]
    angles = np.linspace(0, 2 * np.pi, len(cats), endpoint=False)
    fig, ax = plt.subplots(figsize=(7, 7.5), subplot_kw={"projection": "polar"})
    styles = ["-", "--", "-.", ":"]
    for name, g in mine.groupby("name", sort=False):
        vals = g.set_index("benchmark")["value"].reindex(cats).to_numpy(dtype=float)
        method, it = g.iloc[0]["method"], _it(g.iloc[0]["iteration"])
        ls = styles[(it or 0) % len(styles)]
        ax.plot(
            np.append(angles, angles[0]),
            np.append(vals, vals[0]),
            ls,
            color=color(method),
            marker="o",
            markersize=3,
            label=f"{name} (ours)",
        )
    ax.set_xticks(angles, [c.capitalize() for c in cats])
    ax.set_ylim(0, 10)
    ax.set_rlabel_position(90)
    # the judge as the results files name it (spin.eval.mtbench: "<judge> judge score (1-10)"),
    # not an assumed GPT-4: a local judge must not be labelled as the papers' one
    judges = {str(m).split(" judge score")[0] for m in mine["metric"].dropna()}
    judge = f", {judges.pop()} judge" if len(judges) == 1 else ""
    fig.suptitle(f"MT-Bench score per category (1–10{judge})")
    fig.legend(loc="lower center", ncol=3, frameon=False)
    fig.tight_layout(rect=(0, 0.12, 1, 0.95))
    return fig


def data_size(reported: pd.DataFrame, ours: pd.DataFrame, out_dir: Path) -> list[Path]:
    """T-SPIN's Figure 4a: average score against training examples, T-SPIN vs SFT."""
    pts = []  # (method, side, x, value, stderr, note)
    z = reported[
        (reported["base_model"] == "zephyr-7b-sft-full") & (reported["benchmark"] == "average")
    ]
    for _, r in z[z["source"].str.startswith("T-SPIN")].iterrows():
        size = registry.label_examples(r["model"])
        if r["method"] == "continued_sft" and size:
            pts.append(("continued_sft", "reported", size, r["value"], None))
        elif r["method"] == "tspin" and r["iteration"] == 1 and r["table"] == "Table 1":
            pts.append(
                ("tspin", "reported", 50_000, r["value"], None)
            )  # the paper: 50k, 2 iterations
    if not ours.empty:
        mine = ours[(ours["benchmark"] == "average") & ours["train_examples"].notna()]
        for _, o in mine.iterrows():
            if o["method"] in registry.NON_ITERATIVE or _it(o["iteration"]) == 1:
                pts.append((o["method"], "ours", int(o["train_examples"]), o["value"], o["stderr"]))
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    df = pd.DataFrame(pts, columns=["method", "side", "x", "value", "stderr"])
    for (method, side), g in df.groupby(["method", "side"], sort=True):
        g = g.sort_values("x")
        err = g["stderr"].astype(float).fillna(0.0)
        ax.errorbar(
            g["x"] / 1000,
            g["value"],
            yerr=err if err.any() else None,
            color=color(method),
            linestyle="-" if side == "reported" else "--",
            marker="o" if side == "reported" else "s",
            capsize=3,
            label=f"{label(method)} ({side})",
        )
        for x, v in zip(g["x"] / 1000, g["value"], strict=True):
            ax.annotate(f"{v:.2f}", (x, v), textcoords="offset points", xytext=(5, 4), fontsize=7)
    ax.set_xscale("log")
    ticks = [14, 26, 50, 100, 200]
    ax.set_xticks(ticks, [f"{t}k" for t in ticks])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlim(10, 280)
    ax.set_xlabel("training examples (log scale)")
    ax.set_ylabel("average score, 10 tasks (%)")
    ax.set_title("Data size (T-SPIN Figure 4a): T-SPIN after 2 iterations vs continued SFT")
    ax.legend()
    fig.tight_layout()
    return save(fig, out_dir, "data_size")
