"""The report's figures draw what the data hold and say only that: bars from 0, a score of
0 apart from a missing one, titles and legends naming only drawn series, T-SPIN's dynamics
rows different quantities, and our results with no paper table in their own table and
figure. The figures are inspected as matplotlib objects (the draw_* functions return them)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from spin.report import dynamics_figure, figures, own_results, registry, results, task_bars
from tests import report_roundtrip as roundtrip

REPORTED = registry.load()
EMPTY = results.aggregate(results.to_frame([]))


@pytest.fixture(autouse=True)
def _close():
    figures.configure()
    yield
    plt.close("all")


def ours(*objs: dict) -> pd.DataFrame:
    return results.aggregate(
        results.to_frame([results.validate_results(o, f"r{i}.json") for i, o in enumerate(objs)])
    )


def spin_result(name: str, iteration: int, tasks: dict[str, float]) -> dict:
    return {
        "schema": "spin-results/1",
        "model": {
            "name": name,
            "method": "spin",
            "iteration": iteration,
            "base_model": "zephyr-7b-sft-full",
        },
        "suite": "openllm-v1",
        "tasks": {k: {"value": v, "stderr": 1.0} for k, v in tasks.items()},
        "provenance": {"seed": 0},
    }


def panel(fig, title_start: str):
    return next(ax for ax in fig.axes if ax.get_title().startswith(title_start))


def bars_at(ax, x: float) -> list[Rectangle]:
    return [
        p
        for p in ax.patches
        if isinstance(p, Rectangle) and abs(p.get_x() + p.get_width() / 2 - x) < 1e-6
    ]


@pytest.mark.parametrize("key", list(registry.PAPER_TABLES))
def test_bar_axes_start_at_zero(key):
    fig = task_bars.draw_task_bars(REPORTED, EMPTY, key)
    panels = [ax for ax in fig.axes if ax.patches]
    assert len(panels) == len(registry.PAPER_TABLES[key].benchmarks)
    for ax in panels:
        lo, hi = ax.get_ylim()
        assert lo == 0.0 and hi > max(p.get_height() for p in ax.patches), ax.get_title()
        assert all(p.get_y() == 0.0 for p in ax.patches)  # every bar grows from 0


def test_hellaswag_bars_are_as_long_as_their_values():
    """HellaSwag 82.8 (base) against 84.3 (SPIN iter0): bar lengths in the ratio of the
    values (1.02), not a threefold gap."""
    fig = task_bars.draw_task_bars(REPORTED, EMPTY, "tspin-table1")
    ax = panel(fig, "HellaSwag")
    heights = sorted(p.get_height() for p in ax.patches)
    assert heights[-1] / heights[0] < 1.05
    assert ax.get_ylim()[0] == 0.0


def test_zero_and_missing_draw_differently():
    """Ours at SPIN iter1 scores 0 on GSM8k and has no ARC value (but has one elsewhere)."""
    mine = ours(spin_result("SPIN iter1", 1, {"gsm8k": 0.0, "hellaswag": 80.0, "mmlu": 55.0}))
    fig = task_bars.draw_task_bars(REPORTED, mine, "spin-table2")
    gsm, arc = panel(fig, "GSM8k"), panel(fig, "ARC")
    # ours is hatched; find its slot at iteration 1 from the GSM8k panel
    hatched = [p for p in gsm.patches if p.get_hatch() == "//"]
    assert len(hatched) == 1 and hatched[0].get_height() == 0.0
    x = hatched[0].get_x() + hatched[0].get_width() / 2
    zero_marks = [ln for ln in gsm.lines if ln.get_gid() == "zero" and x in list(ln.get_xdata())]
    assert zero_marks and not [t for t in gsm.texts if t.get_gid() == "missing"]
    # ARC: no bar in our slot, an 'n/a' label there instead, and no zero mark
    assert not [p for p in bars_at(arc, x) if p.get_hatch() == "//"]
    na = [t for t in arc.texts if t.get_gid() == "missing"]
    assert [t.get_text() for t in na] == [figures.NA] and abs(na[0].get_position()[0] - x) < 1e-6
    assert not [ln for ln in arc.lines if ln.get_gid() == "zero"]
    assert "n/a: no value" in fig._suptitle.get_text()
    assert "a score of 0" in fig._suptitle.get_text()


def test_titles_and_legends_name_only_what_is_drawn():
    fig = task_bars.draw_task_bars(REPORTED, EMPTY, "tspin-table1")
    title = fig._suptitle.get_text()
    assert "reported: plain bars" in title
    for absent in ("ours", "hatched", "n/a", "stderr", "do not start"):
        assert absent not in title, absent
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels and all(lab.endswith("(reported)") for lab in labels)
    drawn = {(c.get_label()) for ax in fig.axes for c in ax.containers if len(c.patches)}
    assert set(labels) == drawn

    mine = ours(spin_result("SPIN iter1", 1, {"gsm8k": 30.0}))
    fig = task_bars.draw_task_bars(REPORTED, mine, "spin-table2")
    assert "ours: hatched bars, ± 1 stderr" in fig._suptitle.get_text()
    assert "SPIN (ours)" in [t.get_text() for t in fig.legends[0].get_texts()]

    curves = figures.draw_average_over_iterations(REPORTED, EMPTY)
    title = curves._suptitle.get_text()
    assert "reported: solid lines" in title and "ours" not in title and "dashed" not in title


def dynamics(method: str, *, alpha: float = 1.0) -> list[dict]:
    """One seed, both splits; T-SPIN's reward is alpha x the summed log-likelihood, as
    spin.dynamics.measure records it; per-token means beside the sums."""
    out = []
    for it in range(3):
        split = {
            "n": 8,
            "logp_real": -40.0 - it,
            "logp_generated": -30.0 + it,
            "logp_per_token_real": -2.0 - 0.1 * it,
            "logp_per_token_generated": -2.5 + 0.05 * it,
        }
        if method == "tspin":
            split |= {
                "logp_proto": -35.0,
                "logp_per_token_proto": -2.3,
                "reward_real": alpha * split["logp_real"],
                "reward_generated": alpha * split["logp_generated"],
                "reward_proto": alpha * -35.0,
                "mismatch_share": 0.0,
            }
        else:
            split |= {"reward_real": 0.1 * it, "reward_generated": -0.1 * it, "mismatch_share": 0.4}
        out.append(
            {
                "method": method,
                "arm": method,
                "iteration": it,
                "seed": 0,
                "splits": {"train": split, "heldout": dict(split)},
            }
        )
    return out


def test_tspin_dynamics_rows_plot_different_quantities():
    dyn = dynamics_figure.frame(dynamics("spin") + dynamics("tspin"))
    fig = dynamics_figure.draw_training_dynamics(dyn)
    axes = fig.axes[:6]  # 3 rows x 2 arms (spin, tspin), row-major
    reward, loglik, share = axes[1], axes[3], axes[5]
    ys = lambda ax: sorted(tuple(ln.get_ydata()) for ln in ax.lines if len(ln.get_ydata()))  # noqa: E731
    assert ys(reward) != ys(loglik)
    # the reward row holds the sums (= alpha x log-likelihood), the second row the per-token means
    assert (-40.0, -41.0, -42.0) in ys(reward)
    assert any(abs(y[0] + 2.0) < 1e-9 for y in ys(loglik))
    assert "per token" in loglik.get_ylabel()
    assert "α·log πθ" in axes[1].get_title()
    # T-SPIN's mismatch is 0 everywhere: drawn at 0 on a 0-10% axis at least, not ±0.04%
    lo, hi = share.get_ylim()
    assert lo <= 0.0 < 10.0 <= hi and lo > -0.05 * hi
    assert share.get_ylim() == axes[4].get_ylim()  # one scale for every arm's mismatch
    assert any("0 at every iteration" in t.get_text() for t in share.texts)


def test_dynamics_legend_is_outside_every_panel():
    fig = dynamics_figure.draw_training_dynamics(
        dynamics_figure.frame(dynamics("spin") + dynamics("tspin"))
    )
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert not any(ax.get_legend() for ax in fig.axes)
    (legend,) = fig.legends
    box = legend.get_window_extent(renderer)
    for ax in fig.axes:
        assert not box.overlaps(ax.get_window_extent(renderer)), ax.get_title()
    labels = [t.get_text() for t in legend.get_texts()]
    assert "y₀ (proto, θ0)" in labels and "held-out prompts" in labels
    title = fig._suptitle.get_text()
    assert "one seed" in title and "across seeds" not in title


def test_dynamics_title_names_seeds_only_when_there_are_several():
    objs = dynamics("spin") + [{**d, "seed": 1} for d in dynamics("spin")]
    fig = dynamics_figure.draw_training_dynamics(dynamics_figure.frame(objs))
    assert "mean over 2 seeds" in fig._suptitle.get_text()


def test_a_near_constant_line_gets_a_readable_axis():
    lo, hi = figures.value_limits([0.0, 0.0, 0.0], floor=0.0, min_span=5.0)
    assert lo < 0.0 < 5.0 < hi and hi - lo < 6.0
    lo, hi = figures.value_limits([-2.301, -2.300], min_span=1.0)
    assert hi - lo >= 1.0 and lo < -2.301 and hi > -2.300
    # relative: a log-likelihood flat at -1.06 spans >= 0.106, a small reward stays readable
    lo, hi = figures.value_limits([-1.0605, -1.0600], rel_span=0.1)
    assert 0.106 <= hi - lo < 0.13
    lo, hi = figures.value_limits([0.01, 0.03], rel_span=0.1)
    assert hi - lo < 0.03  # the data's own range, padded: not widened to a nat


def test_demo_results_get_their_own_table_and_figure(tmp_path):
    roundtrip.write_demo_results(tmp_path)
    scan = results.scan(tmp_path)
    frame = results.aggregate(results.to_frame(scan.results))
    (table,) = own_results.own_tables(REPORTED, frame)
    assert table.spec.key == "results-tiny-tiny-mistral"
    names = [n for n, *_ in roundtrip.DEMO_SCORES]
    assert table.display["Model"].tolist() == names  # θ0, continued SFT, SPIN, T-SPIN in order
    assert set(table.display["Run"]) == {"ours"}
    # T-SPIN iter1's average against T-SPIN iter0's, as the papers print the change
    row = table.display[table.display["Model"] == "T-SPIN iter1"].iloc[0]
    assert row["Average"].endswith("(+1.30)") and row["tiny_add"].startswith("6.70 ±")
    fig = own_results.draw_figure(table)
    assert {ax.get_title().split(" (")[0] for ax in fig.axes if ax.lines} == {
        "tiny_add",
        "tiny_sort",
        "tiny_reverse",
        "tiny_repeat",
        "tiny_lookup",
        "Average",
    }
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["continued SFT", "SPIN", "T-SPIN", "θ0 (SFT)"]
    zero = panel(fig, "tiny_reverse")
    assert any("every model scores 0" in t.get_text() for t in zero.texts)
    assert zero.get_ylim()[1] >= 5.0


def test_a_result_in_a_paper_suite_is_not_an_own_table():
    mine = ours(spin_result("SPIN iter1", 1, {"gsm8k": 30.0}))
    assert own_results.own_tables(REPORTED, mine) == []


def test_zero_marks_are_lines_with_the_zero_gid():
    fig, ax = plt.subplots()
    figures.mark_zero(ax, [1.0, 2.0], "#000000")
    (mark,) = [ln for ln in ax.lines if isinstance(ln, Line2D)]
    assert mark.get_gid() == "zero" and list(mark.get_ydata()) == [0.0, 0.0]


def test_radar_names_the_judge_the_results_name():
    cats = registry.MT_BENCH_CATEGORIES
    obj = {
        "schema": "spin-results/1",
        "model": {"name": "SPIN iter1", "method": "spin", "iteration": 1, "base_model": "x"},
        "suite": "mt-bench",
        "tasks": {
            c: {"metric": "qwen2-72b judge score (1-10)", "value": 5.0 + i / 4}
            for i, c in enumerate(cats)
        },
        "provenance": {},
    }
    fig = figures.draw_mtbench_radar(ours(obj))
    title = fig._suptitle.get_text()
    assert "qwen2-72b judge" in title and "GPT-4" not in title


def test_a_new_method_in_a_paper_suite_gets_its_own_bars_and_curve():
    """A method no paper reports, on a paper's suite and base model: drawn beside the
    reported rows (its own slot, colour and legend entry), not dropped."""
    new = spin_result("NewMethod iter1", 1, {"gsm8k": 41.0, "arc_challenge": 0.0})
    new["model"]["method"] = "newmethod"
    new["average"] = 20.5
    mine = ours(new)
    bars = task_bars.draw_task_bars(REPORTED, mine, "spin-table2")
    assert "newmethod (ours)" in [t.get_text() for t in bars.legends[0].get_texts()]
    gsm = panel(bars, "GSM8k")
    assert 41.0 in [p.get_height() for p in gsm.patches if p.get_hatch() == "//"]
    curves = figures.draw_average_over_iterations(REPORTED, mine)
    labels = [
        t.get_text() for ax in curves.axes if ax.get_legend() for t in ax.get_legend().get_texts()
    ]
    assert "newmethod (ours)" in labels
