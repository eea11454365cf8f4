"""The end-of-run summary: accuracy per iteration for each arm, as a table and a plot.
Reads only the run's results JSON (report code stays out of the stages)."""

from __future__ import annotations

import json
from pathlib import Path

THETA0_ITERATION = -1
"""One iteration convention for tables and plots: iteration t is the model trained at self-play
iteration t (the papers' "SPIN iter0" is 0); θ0, the model before any, is -1."""


def load_results(results_dir: Path, suite: str | None = None) -> list[dict]:
    out = []
    for path in sorted(Path(results_dir).glob("*.json")):
        payload = json.loads(path.read_text())
        if payload.get("schema") == "spin-results/1" and (
            suite is None or payload["suite"] == suite
        ):
            out.append(payload)
    return out


def summary_frame(results: list[dict]):
    """Rows: one per (arm, iteration) with the average and each task, θ0 as iteration -1
    (THETA0_ITERATION)."""
    import pandas as pd

    rows = []
    for r in results:
        m = r["model"]
        row = {
            "arm": m.get("arm", "θ0"),
            "model": m["name"],
            "method": m["method"],
            "iteration": THETA0_ITERATION if m.get("iteration") is None else m["iteration"],
            "suite": r["suite"],
            "average": r.get("average"),
        }
        row.update({task: v["value"] for task, v in r["tasks"].items()})
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["suite", "arm", "iteration"]).reset_index(drop=True)


def write_summary(run_dir: str | Path) -> str:
    """Write summary.md and accuracy.png into run_dir; return the Markdown table."""
    run_dir = Path(run_dir)
    results = load_results(run_dir / "results")
    if not results:
        return "(no results)"
    df = summary_frame(results)
    table = df.drop(columns=["suite"]).to_markdown(index=False, floatfmt=".1f")
    (run_dir / "summary.md").write_text(table + "\n")
    _plot_per_iteration(
        df,
        "average",
        None,
        "held-out exact match (%)",
        "Accuracy per iteration",
        run_dir / "accuracy.png",
    )
    return table


def plot_points(table, value: str, err: str | None = None) -> dict[str, tuple[list, list, list]]:
    """Per arm the (x, y, error) points drawn: x is the table's iteration, and θ0's point
    (x = -1) starts every arm's line (or stands alone when there is no arm)."""
    base = table[table.iteration == THETA0_ITERATION]
    out = {}
    for arm, g in table[table.iteration > THETA0_ITERATION].groupby("arm"):
        xs, ys = list(g.iteration), list(g[value])
        es = list(g[err]) if err else [None] * len(xs)
        if len(base):
            xs, ys = [THETA0_ITERATION, *xs], [float(base[value].iloc[0]), *ys]
            es = [float(base[err].iloc[0]) if err else None, *es]
        out[arm] = (xs, ys, es)
    if not out and len(base):  # a θ0-only run: its one point
        out["θ0"] = (
            [THETA0_ITERATION],
            [float(base[value].iloc[0])],
            [float(base[err].iloc[0]) if err else None],
        )
    return out


def _plot_per_iteration(
    table, value: str, err: str | None, ylabel: str, title: str, path: Path
) -> None:
    """One line per arm over iterations, on the tables' axis (θ0 at -1, labelled θ0)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    points = plot_points(table, value, err)
    for arm, (xs, ys, es) in points.items():
        ax.errorbar(xs, ys, yerr=es if err else None, marker="o", capsize=3, label=arm)
    set_iteration_axis(ax, max((max(xs) for xs, _, _ in points.values()), default=0))
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)


def set_iteration_axis(ax, last: int) -> None:
    """Ticks θ0, 0, 1, ..., last: the tables' iteration numbers."""
    ticks = list(range(THETA0_ITERATION, int(last) + 1))
    ax.set_xticks(ticks, ["θ0" if t == THETA0_ITERATION else str(t) for t in ticks])
    ax.set_xlabel("iteration (θ0: the SFT model; t: the model trained at iteration t)")


def seed_table(run_dirs: list[Path], suite: str = "tiny"):
    """Mean, sample standard deviation and per-seed values of each model's average over
    several runs of one experiment (one run per seed)."""
    import pandas as pd

    frames = []
    for run in run_dirs:
        df = summary_frame(load_results(Path(run) / "results", suite))
        seeds = {r["model"].get("seed") for r in load_results(Path(run) / "results", suite)}
        df["seed"] = seeds.pop() if len(seeds) == 1 else str(run)
        frames.append(df)
    df = pd.concat(frames)
    grouped = df.groupby(["arm", "iteration", "model"], sort=True)["average"]
    out = grouped.agg(["mean", "std", "count"]).reset_index()
    per_seed = df.pivot_table(
        index=["arm", "iteration", "model"], columns="seed", values="average"
    ).reset_index()
    return out.merge(per_seed, on=["arm", "iteration", "model"])


def dynamics_table(run_dirs: list[Path]):
    """Mismatch share and rewards/log-likelihoods of y and y′ per (arm, iteration).

    Means over seeds.
    """
    import pandas as pd

    rows = []
    for run in run_dirs:
        for path in sorted((Path(run) / "results" / "dynamics").glob("*.json")):
            d = json.loads(path.read_text())
            for split, s in d["splits"].items():
                rows.append(
                    {
                        "arm": d["arm"],
                        "iteration": d["iteration"],
                        "split": split,
                        "seed": d["seed"],
                        **{k: v for k, v in s.items() if k != "n"},
                    }
                )
    if not rows:
        return None
    df = pd.DataFrame(rows)
    cols = ["mismatch_share", "reward_real", "reward_generated", "logp_real", "logp_generated"]
    return df.groupby(["split", "arm", "iteration"])[cols].mean().reset_index()


def grid_frame(table):
    """For a two-key sweep (arms named `arm[a=x,b=y]`): the mean and sd over seeds at each
    arm's last iteration, one row per grid point, with the two keys as columns; None if the
    table holds no such sweep."""
    import re

    import pandas as pd

    rows = []
    for _, r in table[table.iteration >= 0].iterrows():
        m = re.fullmatch(r"(.+)\[(.+)\]", str(r["arm"]))
        if m is None:
            continue
        point = dict(kv.split("=", 1) for kv in m.group(2).split(","))
        rows.append({**point, "iteration": r["iteration"], "mean": r["mean"], "std": r["std"]})
    if not rows:
        return None
    df = pd.DataFrame(rows)
    keys = [c for c in df.columns if c not in ("iteration", "mean", "std")]
    if len(keys) != 2:
        return None
    last = df.groupby(keys)["iteration"].transform("max") == df["iteration"]
    return df[last].reset_index(drop=True)


def _plot_grid(grid, base: float | None, title: str, path: Path) -> None:
    """Heat map of the sweep's mean accuracy (rows: first key, columns: second key),
    each cell annotated mean ± sd; θ0's value in the title for reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    rows, cols = [c for c in grid.columns if c not in ("iteration", "mean", "std")]
    order = sorted(grid[rows].unique(), key=float), sorted(grid[cols].unique(), key=float)
    mean = grid.pivot(index=rows, columns=cols, values="mean").loc[order[0], order[1]]
    std = grid.pivot(index=rows, columns=cols, values="std").loc[order[0], order[1]]
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    im = ax.imshow(mean.values, cmap="viridis", origin="lower")
    for i in range(mean.shape[0]):
        for j in range(mean.shape[1]):
            sd = std.values[i, j]
            light = im.norm(mean.values[i, j]) > 0.6  # viridis turns yellow: dark text there
            ax.text(
                j,
                i,
                f"{mean.values[i, j]:.1f}" + ("" if pd.isna(sd) else f"\n±{sd:.1f}"),
                ha="center",
                va="center",
                color="black" if light else "white",
                fontsize=8,
            )
    ax.set_xticks(range(len(order[1])), order[1])
    ax.set_yticks(range(len(order[0])), order[0])
    ax.set_xlabel(cols)
    ax.set_ylabel(rows)
    it = int(grid["iteration"].max())
    ref = "" if base is None else f"; θ0 {base:.1f}"
    ax.set_title(f"{title}\nheld-out exact match (%) at iteration {it}{ref}", fontsize=10)
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)


def _experiment(runs: list[Path]) -> str:
    """The experiment's name for plot titles: the runs' common folder (runs/NAME/seedS)."""
    parents = {Path(r).resolve().parent.name for r in runs}
    return parents.pop() if len(parents) == 1 else "runs"


def main(argv: list[str] | None = None) -> int:
    """python -m spin.summary RUN_DIR [RUN_DIR ...] [--output PREFIX]: the seed table
    (mean ± sd over runs), the dynamics table, and a plot with error bars; for a two-key
    sweep, its grid at the last iteration and a heat map (PREFIX_grid.png) instead of the plot."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m spin.summary", description=main.__doc__)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--output", type=Path, help="write PREFIX.md and PREFIX.png")
    args = parser.parse_args(argv)
    table = seed_table(args.runs)
    text = table.to_markdown(index=False, floatfmt=".1f")
    dyn = dynamics_table(args.runs)
    if dyn is not None:
        text += "\n\nTraining dynamics (mean over seeds):\n\n" + dyn.to_markdown(
            index=False, floatfmt=".3f"
        )
    grid = grid_frame(table)
    if grid is not None:
        text += "\n\nSweep at the last iteration (mean ± sd over seeds):\n\n" + grid.to_markdown(
            index=False, floatfmt=".1f"
        )
    print(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.with_suffix(".md").write_text(text + "\n")
        title = f"{_experiment(args.runs)}, {int(table['count'].max())} seeds"
        if grid is not None:  # a line per grid point would be unreadable: the heat map instead
            base = table[table.iteration == THETA0_ITERATION]["mean"]
            _plot_grid(
                grid,
                float(base.iloc[0]) if len(base) else None,
                title,
                args.output.with_name(args.output.name + "_grid.png"),
            )
        else:
            _plot_per_iteration(
                table,
                "mean",
                "std",
                "held-out exact match (%), mean ± sd over seeds",
                title,
                args.output.with_suffix(".png"),
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
