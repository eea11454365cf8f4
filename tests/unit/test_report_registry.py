"""The registry of reported numbers: the copy, its checks, its label mapping, `--reported`."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from spin import cli
from spin.errors import DataError
from spin.report import registry
from tests.shared import shared_path

REPO = Path(__file__).resolve().parents[2]
SHARED = shared_path("reported")


@pytest.fixture(scope="module")
def reported() -> pd.DataFrame:
    return registry.load()


def test_cells_are_the_shared_transcriptions_with_provenance_added():
    """reports/reported adds provenance columns, notes and the printed trailing zeros to
    ../shared/reported; every cell, metric, shot count and value is still the shared one."""
    if SHARED is None:
        pytest.skip("../shared/reported not present")
    shared = pd.read_csv(SHARED / "reported_results.csv", dtype=str, keep_default_na=False)
    ours = pd.read_csv(
        REPO / "reports/reported/reported_results.csv", dtype=str, keep_default_na=False
    )
    same = ["source", "table", "base_model", "model", "benchmark", "metric", "shots"]
    assert ours[same].equals(shared[same])
    assert (ours["value"].astype(float) == shared["value"].astype(float)).all()
    assert (ours["value"].str.split(".").str[1].str.len() == 2).all()  # printed: 2 decimals
    kept = shared["note"] != ""
    assert all(
        s in o for s, o in zip(shared.loc[kept, "note"], ours.loc[kept, "note"], strict=True)
    )


def test_columns_names_and_labels(reported):
    assert list(registry.long_form(reported).columns) == registry.COLUMNS
    assert set(reported["benchmark"]) <= registry.known_benchmarks()
    assert "unknown" not in set(reported["method"]), reported[reported["method"] == "unknown"][
        "model"
    ].unique()
    # the canonical BBH names of SPIN Table 4 are the suite's names
    t4 = reported[reported["table"].str.startswith("Table 4 (Table 6")]
    assert set(t4["benchmark"]) - {"mt_bench"} == set(registry.SUITES["spin-bbh"])


@pytest.mark.parametrize(
    ("label", "base", "expected"),
    [
        ("zephyr-7b-sft-full", "zephyr-7b-sft-full", ("sft", None)),
        ("mistral-7b-v0.1", "mistral-7b-v0.1", ("sft", None)),
        ("SFT (200k)", "zephyr-7b-sft-full", ("continued_sft", None)),
        ("zephyr-7b-sft-full + 1 more SFT epoch", "zephyr-7b-sft-full", ("continued_sft", None)),
        ("zephyr-7b-dpo-full (DPO)", "zephyr-7b-sft-full", ("dpo", None)),
        ("SPIN iter3", "zephyr-7b-sft-full", ("spin", 3)),
        ("T-SPIN iter4", "mistral-7b-v0.1", ("tspin", 4)),
        ("T-SPIN w/o historical advantage iter2", "zephyr-7b-sft-full", ("tspin_noha", 2)),
    ],
)
def test_label_mapping(label, base, expected):
    assert registry.parse_label(label, base) == expected


def test_suite_picks_the_table(reported):
    avg = lambda df: df.loc[df["benchmark"] == "average", "value"].item()  # noqa: E731
    z = "zephyr-7b-sft-full"
    assert (
        avg(registry.lookup(reported, "openllm-v1", z, "continued_sft", None)) == 57.23
    )  # SPIN T3
    assert (
        avg(registry.lookup(reported, "tspin-10", z, "continued_sft", None)) == 42.01
    )  # T-SPIN T1
    assert registry.lookup(
        reported, "tspin-10", z, "continued_sft", None, 50_000
    ).empty  # 50k != 200k
    assert (
        avg(registry.lookup(reported, "openllm-v1", z, "spin", 1)) == 62.12
    )  # paper, not model card
    assert avg(registry.lookup(reported, "tspin-10", "mistral-7b-v0.1", "tspin", 4)) == 45.02
    assert registry.lookup(reported, "openllm-v1", z, "spin", 4).empty


def _copy(tmp_path: Path) -> Path:
    d = tmp_path / "reported"
    shutil.copytree(REPO / "reports/reported", d)
    return d


def test_a_wrong_average_is_caught(tmp_path):
    d = _copy(tmp_path)
    csv = d / "reported_results.csv"
    csv.write_text(
        csv.read_text().replace(",62.12,", ",62.52,", 1)  # SPIN Table 2, iteration 1
    )
    with pytest.raises(DataError, match=r"reported_results.csv:\d+ field 'value'.*62.52"):
        registry.load(d)


def test_a_misspelt_benchmark_is_caught_with_the_nearest_name(tmp_path):
    d = _copy(tmp_path)
    csv = d / "reported_results.csv"
    csv.write_text(csv.read_text().replace(",arc_challenge,", ",arc_chalenge,", 1))
    with pytest.raises(DataError, match=r":2 field 'benchmark'.*did you mean 'arc_challenge'"):
        registry.load(d)


def test_a_missing_column_is_named(tmp_path):
    d = _copy(tmp_path)
    csv = d / "reported_results.csv"
    csv.write_text(csv.read_text().replace("metric,", "metrik,", 1))
    with pytest.raises(DataError, match="field 'metric'"):
        registry.load(d)


@pytest.mark.parametrize("fmt", ["csv", "md", "json"])
def test_reported_cli_prints_every_cell(fmt, capsys, reported):
    assert cli.main(["report", "--reported", "--format", fmt]) == 0
    out = capsys.readouterr().out
    if fmt == "csv":
        df = pd.read_csv(io.StringIO(out))
        assert list(df.columns) == registry.COLUMNS
        assert len(df) == len(reported)
        row = df[
            (df["model"] == "SPIN iter1")
            & (df["benchmark"] == "arc_challenge")
            & (df["table"] == "Table 2 (Table 4 in v3)")
        ]
        assert row["value"].item() == 65.19
    elif fmt == "json":
        records = json.loads(out)
        assert len(records) == len(reported)
        assert set(records[0]) == set(registry.COLUMNS) | {"value_printed"}
        gsm = [r for r in records if r["model"] == "SPIN iter0" and r["benchmark"] == "gsm8k"]
        assert (gsm[0]["value"], gsm[0]["value_printed"]) == (35.1, "35.10")
    else:
        lines = out.splitlines()
        assert lines[0].split("|")[1].strip() == "source"
        assert len(lines) == len(reported) + 2
    # SPIN Table 2 prints GSM8k 35.10 for iteration 0: the zero is kept (json: value_printed)
    assert "35.10" in out
    if fmt != "json":
        assert "35.1," not in out and "| 35.1 " not in out


def test_values_keep_their_printed_decimals(reported):
    spin_t2 = reported[reported["table"] == "Table 2 (Table 4 in v3)"]
    cell = spin_t2[(spin_t2["model"] == "SPIN iter0") & (spin_t2["benchmark"] == "gsm8k")]
    assert cell["value_text"].item() == "35.10" and cell["value"].item() == 35.1


def test_every_cell_names_its_harness_model_and_revision(reported):
    for col in ("harness", "harness_version", "model_id", "revision"):
        assert (reported[col].str.strip() != "").all(), col
    spin = reported[reported["source"] == registry.SPIN_V2]
    assert set(spin.loc[spin["benchmark"] == "gsm8k", "harness_version"]) == {
        "v0.4.0 (commit 46c796644913cd99da7eee868e64f9ed6af33407)"
    }
    sft = spin[spin["model"] == "zephyr-7b-sft-full"]
    assert set(sft["revision"]) == {"ac6e600eefcce74f5e8bae1035d4f66019e93190"}
    # the notes say what the printed metric name hides
    notes = reported.set_index(["source", "table", "model", "benchmark"])["note"]
    assert (
        "strict-match"
        in notes[(registry.SPIN_V2, "Table 2 (Table 4 in v3)", "SPIN iter0", "gsm8k")]
    )
    tspin_if = notes[(registry.TSPIN, "Table 1", "T-SPIN iter4", "ifeval")]
    assert "prompt-level and instruction-level" in tspin_if
    assert not (reported["benchmark"].isin(registry.NOTE_REQUIRED) & (reported["note"] == "")).any()


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        (",lm-evaluation-harness,v0.4.0", ",,v0.4.0", "harness"),
        (",ac6e600eefcce74f5e8bae1035d4f66019e93190,", ",ac6e600,", "revision"),
        (",alignment-handbook/zephyr-7b-sft-full,", ",zephyr-7b-sft-full,", "model_id"),
        (
            ',26.76,"exact match',
            ',26.76,"',
            "note",
        ),
    ],
)
def test_provenance_columns_are_checked(tmp_path, old, new, field):
    d = _copy(tmp_path)
    csv = d / "reported_results.csv"
    text = csv.read_text()
    assert old in text
    if field == "note":  # drop the whole note of SPIN Table 2's GSM8k cell for the SFT model
        line = next(x for x in text.splitlines() if old in x)
        text = text.replace(line, line[: line.index(old)] + ",26.76,")
    else:
        text = text.replace(old, new, 1)
    csv.write_text(text)
    with pytest.raises(DataError, match=rf"reported_results.csv:\d+ field '{field}'"):
        registry.load(d)


def test_cite_one_cell_prints_one_line_per_source_with_harness_and_revision(capsys):
    argv = ["report", "--reported", "--model", "zephyr-7b-sft-full", "--benchmark", "gsm8k"]
    assert cli.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    # the two papers print GSM8k for the SFT model: SPIN Table 2 26.76, T-SPIN Table 1 25.85
    assert [ln.split(" | ")[0] for ln in lines] == ["26.76", "25.85"]
    spin, tspin = (dict(f.split(": ", 1) for f in ln.split(" | ")[1:]) for ln in lines)
    assert spin["source"] == registry.SPIN_V2 and tspin["source"] == registry.TSPIN
    assert spin["harness"].startswith("lm-evaluation-harness, version: v0.4.0 (commit 46c7966")
    assert spin["revision"] == "ac6e600eefcce74f5e8bae1035d4f66019e93190"
    assert spin["model_id"] == "alignment-handbook/zephyr-7b-sft-full"
    assert (spin["metric"], spin["shots"]) == ("acc", "5") and "strict-match" in spin["note"]
    assert tspin["harness"] == "lm-evaluation-harness, version: not stated in the paper"
    assert tspin["revision"] == "not stated in the paper"
    # --source narrows to one paper; the Hub id finds the same cells as the label
    assert cli.main([*argv, "--source", "T-SPIN"]) == 0
    assert capsys.readouterr().out.startswith("25.85 | source: T-SPIN")
    hub = ["report", "--reported", "--model", "UCLA-AGI/zephyr-7b-sft-full-SPIN-iter0"]
    assert cli.main([*hub, "--benchmark", "gsm8k"]) == 0
    values = [ln.split(" | ")[0] for ln in capsys.readouterr().out.splitlines()]
    assert values == ["35.10", "36.69"]  # SPIN Table 2 and the model card (harness b281b09)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--reported", "--model", "zephyr-7b-sft-ful", "--benchmark", "gsm8k"],
            "--model 'zephyr-7b-sft-ful': no reported row (did you mean 'zephyr-7b-sft-full'?)",
        ),
        (
            ["--reported", "--model", "SPIN iter3", "--benchmark", "mt_bench"],
            "--benchmark 'mt_bench' has no reported cell for 'SPIN iter3'",
        ),
        (["--reported", "--source", "NeurIPS"], "--source 'NeurIPS' starts no reported source"),
        (["--format", "latex"], "--format applies only to --reported"),
        (["--model", "SPIN iter1"], "--model applies only to --reported"),
    ],
)
def test_report_option_mistakes_are_one_line_errors(argv, message, capsys):
    assert cli.main(["report", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert "\n" not in err and err.startswith("spin report: error: ") and message in err
