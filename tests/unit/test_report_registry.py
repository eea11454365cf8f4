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


def test_copy_is_identical_to_the_shared_transcription():
    if SHARED is None:
        pytest.skip("../shared/reported not present")
    for name in ("reported_results.csv", "README.md"):
        assert (REPO / "reports/reported" / name).read_bytes() == (SHARED / name).read_bytes(), name


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
        csv.read_text().replace(
            "SPIN iter1,average,mean of the row,,62.12",
            "SPIN iter1,average,mean of the row,,62.52",
            1,
        )
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
        assert set(records[0]) == set(registry.COLUMNS)
    else:
        lines = out.splitlines()
        assert lines[0].split("|")[1].strip() == "source"
        assert len(lines) == len(reported) + 2
