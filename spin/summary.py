"""The end-of-run summary: accuracy per iteration for each arm, as a table and a plot.
Reads only the run's results JSON (report code stays out of the stages)."""

from __future__ import annotations

import json
from pathlib import Path


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
    """Rows: one per (arm, iteration) with the average and each task, θ0 as iteration -1."""
    import pandas as pd

    rows = []
    for r in results:
        m = r["model"]
        row = {
            "arm": m.get("arm", "θ0"),
            "model": m["name"],
            "method": m["method"],
            "iteration": -1 if m.get("iteration") is None else m["iteration"],
            "suite": r["suite"],
            "average": r.get("average"),
        }
        row.update({task: v["value"] for task, v in r["tasks"].items()})
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["suite", "arm", "iteration"]).reset_index(drop=True)


def write_summary(run_dir: str | Path) -> str:
    """Write summary.md and accuracy.png into run_dir; return the Markdown table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    results = load_results(run_dir / "results")
    if not results:
        return "(no results)"
    df = summary_frame(results)
    table = df.drop(columns=["suite"]).to_markdown(index=False, floatfmt=".1f")
    (run_dir / "summary.md").write_text(table + "\n")
    fig, ax = plt.subplots(figsize=(6, 4))
    base = df[df.iteration == -1]
    for arm, group in df[df.iteration >= 0].groupby("arm"):
        xs = [0] + list(group.iteration + 1)
        ys = list(base.average[:1]) + list(group.average)
        ax.plot(xs[-len(ys) :], ys, marker="o", label=arm)
    ax.set_xlabel("iteration (0 = θ0, the SFT model)")
    ax.set_ylabel("held-out exact match (%)")
    ax.set_title("Accuracy per iteration")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(run_dir / "accuracy.png", dpi=120, metadata={"Software": None})
    plt.close(fig)
    return table
