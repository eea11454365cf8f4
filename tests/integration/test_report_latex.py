"""The report's LaTeX compiles with pdflatex, fits the page (no overfull box) and needs only
booktabs and graphicx: every table the registry yields (`spin report --reported --format
latex`), and the golden .tex files of the papers' tables (what `spin report` writes)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from spin import cli
from spin.report import latex, registry, tables

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "report"
PDFLATEX = shutil.which("pdflatex")
pytestmark = pytest.mark.skipif(
    PDFLATEX is None,
    reason="pdflatex not found: scripts/test.sh installs it (apt-get install "
    "texlive-latex-base texlive-latex-recommended); the LaTeX compile tests skip without it",
)


def compile_log(fragments: list[str], tmp_path: Path) -> str:
    """pdflatex on a minimal article holding the fragments; the log, after checking it."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "doc.tex").write_text(latex.document(fragments), encoding="ascii")
    run = subprocess.run(
        [PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "doc.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    log = (tmp_path / "doc.log").read_text(encoding="latin-1")
    assert run.returncode == 0, log[-3000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 1000
    assert "Overfull \\hbox" not in log, log[log.index("Overfull") - 200 :][:1500]
    assert "Missing character" not in log  # a glyph the font lacks is dropped silently
    return log


REGISTRY_TABLES = tables.registry_tables(registry.load())


@pytest.mark.parametrize(
    ("spec", "display", "columns"), REGISTRY_TABLES, ids=[s.key for s, _, _ in REGISTRY_TABLES]
)
def test_every_registry_table_compiles_and_fits(spec, display, columns, tmp_path):
    tex = tables.to_latex(spec, display, columns=columns)
    log = compile_log([tex], tmp_path)
    assert "Output written on doc.pdf (1 page" in log.replace("\n", "")


@pytest.mark.parametrize("name", sorted(p.name for p in GOLDEN.glob("*.tex")))
def test_golden_tables_compile_and_fit(name, tmp_path):
    compile_log([(GOLDEN / name).read_text(encoding="utf-8")], tmp_path)


def test_reported_format_latex_compiles(capsys, tmp_path):
    assert cli.main(["report", "--reported", "--format", "latex"]) == 0
    out = capsys.readouterr().out
    assert out.isascii()
    assert out.count(r"\begin{table}") == len(REGISTRY_TABLES) == 9
    log = compile_log([out], tmp_path)
    assert "Rerun to get cross-references" in log or "Output written" in log


def test_a_filtered_query_compiles_too(capsys, tmp_path):
    argv = ["report", "--reported", "--format", "latex", "--benchmark", "gsm8k"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "GSM8k" in out and "MMLU" not in out
    compile_log([out], tmp_path)


def test_a_report_of_the_demos_results_compiles(tmp_path):
    """Every .tex a report of the tiny demo's results writes (its own table of the 14 models,
    and the papers' tables beside it) compiles and fits."""
    from tests import report_roundtrip

    res, out = tmp_path / "results", tmp_path / "out"
    report_roundtrip.write_demo_results(res)
    argv = ["report", "--results-dir", str(res), "--output-dir", str(out), "--figures", "none"]
    assert cli.main(argv) == 0
    fragments = [p.read_text(encoding="utf-8") for p in sorted((out / "tables").glob("*.tex"))]
    assert any("results-tiny" in p.name for p in (out / "tables").glob("*.tex"))
    log = compile_log(fragments, tmp_path / "pdf")
    assert "Output written on doc.pdf" in log.replace("\n", "")
