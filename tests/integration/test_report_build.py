"""End to end: `spin report` and `spin compare` on results files made from the reported
numbers (plus dynamics, MT-Bench categories, seeds and per-sample logs); figures and the
HTML page checked for content; the committed reported-only outputs checked for byte-identity."""

from __future__ import annotations

import hashlib
import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from spin import cli
from spin.report import registry
from tests import report_roundtrip as roundtrip

REPO = Path(__file__).resolve().parents[2]
CATEGORIES = registry.MT_BENCH_CATEGORIES
DEMO = "results-tiny-tiny-mistral"  # the tiny demo's results: no paper table holds them
DRAWN = ("average_over_iterations", "mtbench_radar", "training_dynamics", "data_size")


def _edit(path: Path, fn) -> None:
    obj = json.loads(path.read_text())
    fn(obj)
    path.write_text(json.dumps(obj))


def dynamics_split(method: str, it: int, seed: int, k: float) -> dict:
    """Made-up means with SPIN's mismatch (y' more likely than y) and T-SPIN's order."""
    tspin = method == "tspin"
    return {
        "n": 64,
        "reward_real": 0.1 * it + k,
        "reward_generated": -0.1 * it - k,
        "reward_proto": -0.3 * it if tspin else None,
        "logp_real": -120.0 + it,
        "logp_generated": -100.0 - 5 * it + seed,
        "logp_proto": -110.0 - 8 * it if tspin else None,
        "mismatch_share": 0.1 + 0.01 * seed if tspin else 0.45,
    }


def make_results(root: Path) -> Path:
    """Round-trip results, plus what a real run adds: a second seed, MT-Bench categories,
    training dynamics, a samples file, train_examples and a JSON file with no schema."""
    res = root / "results"
    paths = roundtrip.write_reported_results(registry.load(), res)
    by_name = {p.name: p for p in paths}
    for i, it in enumerate(
        [
            "zephyr_7b_sft_full_zephyr_7b_sft_full",
            "zephyr_7b_sft_full_SPIN_iter0",
            "zephyr_7b_sft_full_SPIN_iter1",
            "zephyr_7b_sft_full_SPIN_iter2",
        ]
    ):

        def add_categories(o, i=i):
            for j, c in enumerate(CATEGORIES):
                o["tasks"][c] = {"value": 4.0 + 0.5 * i + 0.4 * j, "stderr": 0.3}

        _edit(by_name[f"{it}_mt_bench_s0.json"], add_categories)
    _edit(
        by_name["zephyr_7b_sft_full_T_SPIN_iter1_tspin_10_s0.json"],
        lambda o: o["model"].update(train_examples=50_000),
    )
    # the same model with seed 1 and identical numbers: mean unchanged, n_seeds = 2
    seed1 = res / "seed1" / "spin_iter1_openllm_s1.json"
    seed1.parent.mkdir()
    shutil.copy(by_name["zephyr_7b_sft_full_SPIN_iter1_openllm_v1_s0.json"], seed1)
    _edit(
        seed1,
        lambda o: (
            o["model"].update(seed=1),
            o["provenance"].update(git_commit="feedbeef", hardware="8xH100"),
        ),
    )
    for method in ("spin", "tspin"):
        for it in range(3):
            for seed in range(2):
                d = {
                    "schema": "spin-dynamics/1",
                    "method": method,
                    "arm": method,
                    "iteration": it,
                    "seed": seed,
                    "splits": {
                        s: dynamics_split(method, it, seed, k)
                        for s, k in (("train", 0.0), ("heldout", 0.05))
                    },
                }
                (res / f"runs/{method}/it{it}").mkdir(parents=True, exist_ok=True)
                (res / f"runs/{method}/it{it}/dynamics_s{seed}.json").write_text(json.dumps(d))
    (res / "runs/run.json").write_text(json.dumps({"stage": "eval"}))  # no schema: ignored, counted
    return res


def write_samples(path: Path, tasks: dict[str, np.ndarray]) -> None:
    with path.open("w") as f:
        for task, scores in tasks.items():
            for i, s in enumerate(scores):
                doc = {"task": task, "doc_id": i, "doc_hash": f"{task}-{i}", "score": float(s)}
                f.write(json.dumps(doc) + "\n")  # doc_hash: the document's content key


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    res = make_results(root)
    out = root / "out"
    # Four figures cover every way ours enters a figure; drawing all nine would cost ~20 s CPU.
    args = [
        "report",
        "--results-dir",
        str(res),
        "--output-dir",
        str(out),
        "--figures",
        ",".join(DRAWN),
    ]
    assert cli.main(args) == 0
    return res, out


def nonblank(png: Path) -> None:
    img = np.asarray(Image.open(png).convert("L"), dtype=float)
    assert img.shape[0] > 200 and img.shape[1] > 200, png
    assert img.std() > 10 and (img < 128).mean() > 0.005, f"{png.name} looks blank"


def test_round_trip_through_the_cli(built):
    _, out = built
    comp = pd.read_csv(out / "comparison.csv")
    assert list(comp.columns[:8]) == [
        "model",
        "benchmark",
        "ours",
        "ours_stderr",
        "reported",
        "source",
        "delta",
        "within_tolerance",
    ]
    assert len(comp) > 300 and (comp["delta"] == 0.0).all()
    spin1 = comp[(comp["model"] == "SPIN iter1") & (comp["benchmark"] == "gsm8k")]
    assert spin1["n_seeds"].tolist() == [2, 1]  # openllm (two seeds) and tspin-10
    # category scores have no reported value: listed, not dropped
    missing = pd.read_csv(out / "missing.csv")
    assert {"writing", "humanities"} <= set(missing["benchmark"])


def test_every_figure_is_planned_and_the_drawn_ones_are_not_blank(built):
    res, out = built
    from spin.report.build import Build

    stems, skipped = Build(out / "plan", results_dir=res).figure_plan()
    assert sorted(stems) == sorted(
        ["average_over_iterations", "data_size", "mtbench_radar", "training_dynamics"]
        + [f"tasks_{k}" for k in registry.PAPER_TABLES]
    )
    assert skipped == []
    assert sorted(p.stem for p in (out / "figures").glob("*.png")) == sorted(DRAWN)
    for stem in DRAWN:
        nonblank(out / "figures" / f"{stem}.png")
        svg = (out / "figures" / f"{stem}.svg").read_text()
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "<dc:date>" not in svg


def test_committed_reported_only_figures_exist_and_are_not_blank():
    pngs = sorted((REPO / "reports/figures").glob("*.png"))
    assert [p.stem for p in pngs] == sorted(
        ["average_over_iterations", "data_size"] + [f"tasks_{k}" for k in registry.PAPER_TABLES]
    )
    for png in pngs:
        nonblank(png)
        assert png.with_suffix(".svg").exists()


def test_html_is_self_contained_with_provenance(built):
    _, out = built
    page = (out / "index.html").read_text()
    assert page.count("src='data:image/png;base64,") == len(DRAWN)
    assert not re.search(r"(src|href)=['\"]https?:", page)  # nothing fetched from the network
    assert "feedbeef" in page and "8xH100" in page  # provenance of each results file
    assert "SPIN Table 2" in page and "T-SPIN Table 4" in page and "within_tolerance" in page
    assert "Average score over iterations: SFT, SPIN, T-SPIN, reported vs ours" in page


def test_the_demo_results_appear_in_the_report(tmp_path):
    """The tiny demo's 14 results (suite 'tiny', base model 'tiny-mistral', which no paper
    reports) get their own table, figure and section; missing.csv names each model once
    instead of listing every cell."""
    res, out = tmp_path / "results", tmp_path / "out"
    roundtrip.write_demo_results(res)
    assert cli.main(["report", "--results-dir", str(res), "--output-dir", str(out)]) == 0
    nonblank(out / "figures" / f"{DEMO}.png")
    names = [name for name, *_ in roundtrip.DEMO_SCORES]
    table = (out / "tables" / f"{DEMO}.md").read_text()
    page = (out / "index.html").read_text()
    own = page[page.index("id='own'") : page.index("id='tables'")]
    for name in names:
        assert f"| {name} " in table and f"<td>{html.escape(name)}</td>" in own, name
    assert f"{DEMO}.png" in own and "src='data:image/png;base64," in own
    assert (out / "tables" / f"{DEMO}.tex").exists() and (out / "tables" / f"{DEMO}.csv").exists()
    long = pd.read_csv(out / "tables" / f"{DEMO}.csv")
    assert set(long["model"]) == set(names) and len(long) == len(names) * 6
    missing = pd.read_csv(out / "missing.csv")
    demo = missing[missing["table"] == DEMO]
    assert sorted(demo["model"]) == sorted(names) and set(demo["benchmark"]) == {"(all)"}
    assert html.escape("14 models on suite 'tiny'") in page  # the summary counts them


def test_sources_are_rendered_markdown(built):
    """reports/reported/README.md as HTML: no raw '**', '`' or '[text](url)' left."""
    _, out = built
    page = (out / "index.html").read_text()
    sources = page[page.index("id='sources'") :]
    text = re.sub(r"<[^>]+>", "", sources)
    assert "**" not in text and "`" not in text
    assert not re.search(r"\[[^\]]+\]\([^)]+\)", text)
    assert "<strong>SPIN</strong>" in sources and "<code>reported_results.csv</code>" in sources
    assert "<li>" in sources and "<pre" not in sources


def test_html_renders_in_headless_chromium(built, tmp_path):
    browser = (
        shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )
    if browser is None:
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    _, out = built
    shot = tmp_path / "shot.png"
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1280,2400",
        f"--screenshot={shot}",
        (out / "index.html").as_uri(),
    ]
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert shot.exists(), "chromium wrote no screenshot"
    nonblank(shot)


def test_committed_reported_only_outputs_regenerate_byte_identically(tmp_path):
    """reports/ was written by scripts/make_report.sh in another process; a fresh build of its
    tables and of two figures (a line plot and a bar grid) must give the same bytes."""
    import matplotlib

    committed = json.loads((REPO / "reports/manifest.json").read_text())
    if committed["matplotlib"] != matplotlib.__version__:
        pytest.skip(
            f"reports/ drawn with matplotlib {committed['matplotlib']}, "
            f"not {matplotlib.__version__}"
        )
    out = tmp_path / "reports"
    assert (
        cli.main(["report", "--output-dir", str(out), "--figures", "data_size,tasks_spin-table4"])
        == 0
    )
    page = (out / "index.html").read_text()
    assert "reported vs ours" not in page and "hatched" not in page  # no ours: none named
    fresh = json.loads((out / "manifest.json").read_text())["files"]
    checked = [n for n in fresh if n != "index.html"]  # the page embeds only the figures drawn
    assert len(checked) == 1 + 3 * len(registry.PAPER_TABLES) + 4
    for name in checked:
        assert fresh[name] == committed["files"][name], (
            f"{name}: stale or not deterministic; run scripts/make_report.sh"
        )
        assert hashlib.sha256((REPO / "reports" / name).read_bytes()).hexdigest() == fresh[name], (
            name
        )


def test_compare_places_a_new_method_with_paired_cis(built, tmp_path):
    res, _ = built
    rng = np.random.default_rng(0)
    base = {"arc_challenge": rng.random(400) < 0.65, "gsm8k": rng.random(400) < 0.36}
    better = {
        "arc_challenge": base["arc_challenge"].copy(),
        "gsm8k": base["gsm8k"] | (rng.random(400) < 0.5),
    }
    ours_file = res / "zephyr_7b_sft_full_SPIN_iter1_openllm_v1_s0.json"
    write_samples(res / "spin1_samples.jsonl", base)
    _edit(ours_file, lambda o: o["provenance"].update(samples_file="spin1_samples.jsonl"))
    write_samples(tmp_path / "new_samples.jsonl", better)
    new = {
        "schema": "spin-results/1",
        "suite": "openllm-v1",
        "model": {
            "name": "NewMethod iter1",
            "method": "newmethod",
            "iteration": 1,
            "base_model": "zephyr-7b-sft-full",
        },
        "tasks": {k: {"value": 100 * float(v.mean()), "stderr": 2.0} for k, v in better.items()},
        "provenance": {"samples_file": str(tmp_path / "new_samples.jsonl")},
    }
    (tmp_path / "new.json").write_text(json.dumps(new))
    out = tmp_path / "cmp"
    args = [
        "compare",
        "--results",
        str(tmp_path / "new.json"),
        "--results-dir",
        str(res),
        "--against",
        "spin-table2",
        "--output-dir",
        str(out),
        "--resamples",
        "2000",
    ]
    assert cli.main(args) == 0
    boot = pd.read_csv(out / "compare_spin-table2_bootstrap.csv")
    row = boot[(boot["ours"] == "SPIN iter1") & (boot["task"] == "gsm8k")].iloc[0]
    assert row["significant"] and row["ci_low"] > 0 and row["n_paired"] == 400
    assert not boot[(boot["ours"] == "SPIN iter1") & (boot["task"] == "arc_challenge")].iloc[0][
        "significant"
    ]
    table = pd.read_csv(out / "compare_spin-table2.csv")  # numbers, one row per cell
    assert table.iloc[-1]["model"] == "NewMethod iter1" and table.iloc[-1]["run"] == "new"
    assert table[table["run"] == "new"]["value"].isna().any()  # most tasks missing
    text = (out / "compare_spin-table2.md").read_text()
    assert "NewMethod iter1 / mmlu (new): not in the new results" in text
    nonblank(out / "compare_spin-table2.png")


def test_errors_name_the_file_and_field(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {"schema": "spin-results/1", "model": {"name": "x"}, "suite": "openllm-v1", "tasks": {}}
        )
    )
    assert cli.main(["compare", "--results", str(bad)]) == 2
    assert "bad.json field 'model.method'" in capsys.readouterr().err


@pytest.mark.parametrize("verb", ["report", "compare"])
def test_help_runs_as_a_module(verb):
    proc = subprocess.run(
        [sys.executable, "-m", "spin.cli", verb, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"spin {verb} --" in proc.stdout and "example:" in proc.stdout
