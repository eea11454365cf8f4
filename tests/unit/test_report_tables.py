"""Tables: golden files, the round trip through results files, tolerance, missing cells.

Regenerate the golden files after an intended change with
SPIN_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_report_tables.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd
import pytest

from spin.report import latex, registry, results, tables
from spin.report.build import Build
from spin.report.registry import PAPER_TABLES
from tests import report_roundtrip as roundtrip

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "report"
UPDATE = os.environ.get("SPIN_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def reported() -> pd.DataFrame:
    return registry.load()


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} missing: run with SPIN_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


@pytest.mark.parametrize("key", list(PAPER_TABLES))
def test_reported_only_tables_match_golden(reported, key):
    display, _, missing = tables.paper_table(PAPER_TABLES[key], reported)
    assert missing == []
    check_golden(f"{key}.md", tables.to_markdown(PAPER_TABLES[key], display, missing))
    check_golden(f"{key}.tex", tables.to_latex(PAPER_TABLES[key], display))


def _result(name, method, it, tasks, seed=0, average=None):
    return results.validate_results(
        {
            "schema": "spin-results/1",
            "model": {
                "name": name,
                "method": method,
                "iteration": it,
                "base_model": "zephyr-7b-sft-full",
                "seed": seed,
            },
            "suite": "openllm-v1",
            "average": average,
            "tasks": {k: {"value": v, "stderr": se} for k, (v, se) in tasks.items()},
        },
        f"{name.replace(' ', '_')}_s{seed}.json",
    )


def synthetic_ours() -> pd.DataFrame:
    full = {
        "arc_challenge": (61.0, 1.4),
        "truthfulqa_mc2": (44.0, 1.7),
        "winogrande": (74.0, 1.2),
        "hellaswag": (82.0, 0.4),
        "mmlu": (60.0, 0.4),
        "gsm8k": (27.0, 1.2),
    }
    it0 = {k: (v + 2.0, se) for k, (v, se) in full.items()}
    rs = [
        _result(
            "sft", "sft", None, {k: v for k, v in full.items() if k != "gsm8k"}
        ),  # gsm8k missing
        _result("spin-0", "spin", 0, it0, seed=0, average=sum(v for v, _ in it0.values()) / 6),
        _result(
            "spin-0",
            "spin",
            0,
            {k: (v + 1.0, se) for k, (v, se) in it0.items()},
            seed=1,
            average=sum(v for v, _ in it0.values()) / 6 + 1.0,
        ),
        _result("ref-0", "tspin_ref", 0, {"arc_challenge": (62.0, 1.4)}),  # no reported row
    ]
    return results.aggregate(results.to_frame(rs))


def test_table_with_ours_matches_golden(reported):
    spec = PAPER_TABLES["spin-table2"]
    display, long, missing = tables.paper_table(spec, reported, synthetic_ours())
    text = tables.to_markdown(spec, display, missing)
    check_golden("spin-table2_ours.md", text)
    check_golden("spin-table2_ours.tex", tables.to_latex(spec, display))
    # ours sit directly under their reported row; the unplaced model is appended, not dropped
    assert list(display["Run"][:4]) == ["reported", "ours", "reported", "ours (2 seeds)"]
    assert display.iloc[-1]["Model"] == "ref-0"
    assert {
        "model": "zephyr-7b-sft-full",
        "benchmark": "gsm8k",
        "missing": "ours",
        "why": "no value for this cell",
        "table": "spin-table2",
    } in missing
    assert display.loc[2, "Average"] == "60.80 (+2.66)"  # the paper's change per iteration


def test_comparison_tolerance(reported):
    comp, unmatched = tables.comparison(reported, synthetic_ours(), tables.Tolerance(2.0))
    check_golden("comparison_synthetic.csv", comp.to_csv(index=False))
    arc = comp[(comp["model"] == "spin-0") & (comp["benchmark"] == "arc_challenge")].iloc[0]
    assert arc["reported"] == 63.4 and arc["ours"] == 63.5 and arc["delta"] == 0.1
    assert arc["n_seeds"] == 2 and arc["within_tolerance"]
    gsm = comp[(comp["model"] == "spin-0") & (comp["benchmark"] == "gsm8k")].iloc[0]
    assert gsm["delta"] == round(29.5 - 35.1, 2) and not gsm["within_tolerance"]
    assert any(u["model"] == "ref-0" for u in unmatched)
    # no stderr: no verdict unless an absolute tolerance is given
    ours = synthetic_ours().assign(stderr=float("nan"))
    assert tables.comparison(reported, ours, tables.Tolerance())[0]["within_tolerance"].isna().all()
    loose = tables.comparison(reported, ours, tables.Tolerance(absolute=100.0))[0]
    assert loose["within_tolerance"].all()


def test_round_trip_gives_zero_deltas(reported, tmp_path):
    roundtrip.write_reported_results(reported, tmp_path / "res")
    build = Build(tmp_path / "out", results_dir=tmp_path / "res")
    comp = build.comparison
    expected = sum(
        len(reported[(reported["source"] == s) & (reported["table"] == t)])
        for s, t in {p for parts in registry.SUITE_TABLES.values() for p in parts}
    )
    assert len(comp) == expected  # every reported cell of a compared table came back
    assert (comp["delta"] == 0.0).all()
    assert (comp["ours"] == comp["reported"]).all()
    assert build.missing.empty and build.warnings == []
    for key in PAPER_TABLES:  # every reported row got its ours row, filled in
        display = build.tables[key][0]
        assert (display["Run"] == "ours").sum() == (display["Run"] == "reported").sum()
        assert not (display == tables.DASH).any().any()


def test_unknown_benchmark_warns_with_the_nearest_name(reported, tmp_path):
    import json

    obj = {
        "schema": "spin-results/1",
        "suite": "openllm-v1",
        "model": {
            "name": "x",
            "method": "spin",
            "iteration": 0,
            "base_model": "zephyr-7b-sft-full",
        },
        "tasks": {"arc_chalenge": {"value": 60.0}, "mmlu": {"value": 60.0}},
    }
    (tmp_path / "res").mkdir()
    (tmp_path / "res/x.json").write_text(json.dumps(obj))
    build = Build(tmp_path / "out", results_dir=tmp_path / "res")
    assert len(build.warnings) == 1 and "did you mean 'arc_challenge'" in build.warnings[0]
    assert "arc_chalenge" in set(build.missing["benchmark"])  # kept and listed, not dropped
    assert list(build.comparison["benchmark"]) == ["mmlu"]


def test_latex_escapes_specials_and_writes_ascii():
    assert latex.escape("50% & $x_1$ #2 {a} ~^\\") == (
        r"50\% \& \$x\_1\$ \#2 \{a\} \textasciitilde{}\textasciicircum{}\textbackslash{}"
    )
    assert latex.escape("63.50 ± 1.49 – y′ −1") == r"63.50 $\pm$ 1.49 -- y$'$ $-$1"


def test_latex_bolds_the_best_value_per_column(reported):
    """SPIN Table 2's best cells, read off the paper's table by hand: ARC 65.96 (iter2),
    TruthfulQA 55.17 (iter1), Winogrande 74.19 (SFT), GSM8k 38.97, HellaSwag 85.54 and
    Average 63.16 (iter3), MMLU 60.92 (SFT)."""
    spec = PAPER_TABLES["spin-table2"]
    display, _, _ = tables.paper_table(spec, reported)
    tex = tables.to_latex(spec, display)
    bold = re.findall(r"\\textbf\{([\d.]+)\}", tex)
    assert sorted(bold) == sorted(["65.96", "55.17", "74.19", "38.97", "85.54", "63.16", "60.92"])
    assert r"\textbf{63.16} (+0.19)" in tex  # the number, not the change beside it
    assert "(-0" not in tex  # a negative change is typeset with a minus sign, not a hyphen


def test_latex_ties_are_all_bold_and_a_lone_value_is_not():
    display = pd.DataFrame(
        {"Model": ["a", "b", "c"], "Run": ["reported"] * 3, "X": ["1.00", "2.00", "2.00"]}
    )
    assert latex.best_cells(display) == {(1, "X"), (2, "X")}
    one = pd.DataFrame({"Model": ["a"], "Run": ["reported"], "X": ["1.00"]})
    assert latex.best_cells(one) == set()


@pytest.mark.parametrize(
    ("key", "present", "absent"),
    [
        ("tspin-table1", ["Values in %.", "Average column"], ["MT-Bench", "below the table", "–"]),
        ("spin-table4", ["MT-Bench on its 1–10 scale"], ["Average column", "missing", "Ours"]),
    ],
)
def test_captions_describe_only_what_the_table_holds(reported, key, present, absent):
    display, _, missing = tables.paper_table(PAPER_TABLES[key], reported)
    caption = tables.describe(display, missing_listed=bool(missing))
    assert all(p in caption for p in present), caption
    assert not any(a in caption for a in absent), caption


def test_latex_drops_the_run_column_only_when_every_row_is_reported(reported):
    spec = PAPER_TABLES["spin-table2"]
    display, _, _ = tables.paper_table(spec, reported)
    assert "& Run &" not in tables.to_latex(spec, display)
    assert "Model & Run & ARC" in (GOLDEN / "spin-table2_ours.tex").read_text(encoding="utf-8")
