"""The end-of-run and over-seeds summaries read only results files; a two-key sweep gets a grid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spin import summary


def _run(root: Path, seed: int, values: dict[tuple[str, int | None], float]) -> Path:
    run = root / f"seed{seed}"
    (run / "results").mkdir(parents=True)
    for i, ((arm, it), v) in enumerate(values.items()):
        model = {
            "name": f"{arm} {it}",
            "method": "tspin",
            "iteration": it,
            "base_model": "tiny",
            "seed": seed,
            **({} if arm == "θ0" else {"arm": arm}),
        }
        res = {
            "schema": "spin-results/1",
            "model": model,
            "suite": "tiny",
            "average": v,
            "tasks": {"tiny_add": {"metric": "exact_match", "value": v, "n": 10}},
        }
        (run / "results" / f"{i}.json").write_text(json.dumps(res))
    return run


def test_seed_table_and_sweep_grid(tmp_path):
    runs = []
    for seed, shift in ((1, 0.0), (2, 2.0)):
        values = {("θ0", None): 5.0 + shift}
        for a in ("0.1", "1.0"):
            for b in ("0.1", "0.5"):
                arm = f"tspin[alpha={a},beta={b}]"
                values[(arm, 0)] = 1.0
                values[(arm, 1)] = 10 * float(a) + float(b) + shift
        runs.append(_run(tmp_path, seed, values))
    table = summary.seed_table(runs)
    base = table[table.iteration == -1].iloc[0]
    assert base["mean"] == 6.0 and base["std"] == pytest.approx(2**0.5)
    grid = summary.grid_frame(table)
    assert len(grid) == 4 and set(grid.iteration) == {1}
    cell = grid[(grid.alpha == "1.0") & (grid.beta == "0.5")].iloc[0]
    assert cell["mean"] == pytest.approx(11.5) and cell["std"] == pytest.approx(2**0.5)
    out = tmp_path / "report" / "sens"
    assert summary.main([*map(str, runs), "--output", str(out)]) == 0
    assert (tmp_path / "report" / "sens_grid.png").stat().st_size > 0
    assert "Sweep at the last iteration" in out.with_suffix(".md").read_text()


def test_no_grid_without_a_two_key_sweep(tmp_path):
    run = _run(tmp_path, 1, {("θ0", None): 5.0, ("spin", 0): 6.0, ("spin", 1): 7.0})
    assert summary.grid_frame(summary.seed_table([run])) is None
    assert summary.main([str(run), "--output", str(tmp_path / "out" / "s")]) == 0
    assert (tmp_path / "out" / "s.png").exists() and not (tmp_path / "out" / "s_grid.png").exists()


def test_plot_and_table_share_the_iteration_axis(tmp_path):
    """θ0 is iteration -1 in the table and at x = -1 (tick θ0) in the plot.

    SPIN iter0 is 0 in both.
    """
    run = _run(tmp_path, 1, {("θ0", None): 5.0, ("spin", 0): 6.0, ("spin", 1): 7.0})
    table = summary.summary_frame(summary.load_results(run / "results"))
    assert dict(zip(table.iteration, table.average, strict=True)) == {-1: 5.0, 0: 6.0, 1: 7.0}
    xs, ys, _ = summary.plot_points(table, "average")["spin"]
    assert (xs, ys) == ([-1, 0, 1], [5.0, 6.0, 7.0])
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    summary.set_iteration_axis(ax, 1)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["θ0", "0", "1"]
    assert list(ax.get_xticks()) == [-1, 0, 1]
    plt.close(fig)


def test_theta0_only_run_plots_its_point(tmp_path):
    run = _run(tmp_path, 1, {("θ0", None): 5.0})
    table = summary.summary_frame(summary.load_results(run / "results"))
    assert summary.plot_points(table, "average") == {"θ0": ([-1], [5.0], [None])}
