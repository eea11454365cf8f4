"""Citing: `spin cite`'s BibTeX (parsed by BibTeX itself where TeX is installed) and the
root CITATION.cff (CFF 1.2.0), which must agree with it."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from spin import cli
from spin.report import citation

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cff() -> dict:
    return yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))


def test_citation_cff_parses_with_the_required_keys(cff):
    # CFF 1.2.0's required keys, and the schema's rules for each author
    assert cff["cff-version"] == "1.2.0"
    assert {"cff-version", "message", "title", "authors"} <= set(cff)
    for ref in [cff, *cff["references"]]:
        assert ref["authors"], ref["title"]
        for a in ref["authors"]:
            assert a.get("name") or a.get("family-names"), a
        keys = [tuple(sorted(a.items())) for a in ref["authors"]]
        assert len(keys) == len(set(keys)), f"{ref['title']}: authors must be unique"
    for ref in cff["references"]:
        assert {"type", "title", "authors"} <= set(ref)


def test_citation_cff_agrees_with_spin_cite_and_the_package(cff):
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert str(cff["version"]) == version
    assert cff["title"] == citation.SUITE_TITLE
    ids = [i["value"] for r in cff["references"] for i in r["identifiers"]]
    assert ids == ["arXiv:2401.01335", "arXiv:2601.08198"]
    spin, tspin = cff["references"]
    assert [a["family-names"] for a in spin["authors"]] == ["Chen", "Deng", "Yuan", "Ji", "Gu"]
    assert (spin["year"], tspin["year"]) == (2024, 2025)
    assert "ICML" in spin["collection-title"] and "NeurIPS" in tspin["collection-title"]
    # T-SPIN's eight authors in the paper's order (tspin.md); the arXiv listing lacks Huzhang
    surnames = ["Wang", "Sun", "Huzhang", "Chen", "Xu", "Luo", "Zhang", "Zhang"]
    assert [a["family-names"] for a in tspin["authors"]] == surnames
    bib = "".join(citation.entries().values())
    assert spin["title"] in bib.replace("\n", " ")
    for a in [*spin["authors"], *tspin["authors"]]:
        name = f"{a['family-names']}, {a['given-names']}" if "given-names" in a else "Huzhang"
        assert name in bib, name


def test_spin_cite_prints_three_entries(capsys):
    assert cli.main(["cite"]) == 0
    out = capsys.readouterr().out
    keys = re.findall(r"^@(\w+)\{([\w_]+),", out, flags=re.M)
    assert keys == [
        ("inproceedings", "chen2024spin"),
        ("inproceedings", "wang2025tspin"),
        ("misc", "spin_replication"),
    ]
    assert "eprint        = {2401.01335}" in out and "eprint        = {2601.08198}" in out
    assert out.count("{") == out.count("}")
    assert cli.main(["cite", "--only", "tspin"]) == 0
    assert re.findall(r"^@\w+\{(\w+),", capsys.readouterr().out, flags=re.M) == ["wang2025tspin"]


@pytest.mark.skipif(
    not (shutil.which("bibtex") and shutil.which("pdflatex")),
    reason="bibtex/pdflatex not found (scripts/test.sh installs TeX); BibTeX parse check skipped",
)
def test_bibtex_reads_every_entry_without_a_warning(tmp_path, capsys):
    assert cli.main(["cite"]) == 0
    (tmp_path / "refs.bib").write_text(capsys.readouterr().out, encoding="utf-8")
    (tmp_path / "doc.tex").write_text(
        "\\documentclass{article}\\begin{document}\\nocite{*}"
        "\\bibliographystyle{plain}\\bibliography{refs}\\end{document}\n"
    )
    run = lambda *cmd: subprocess.run(  # noqa: E731
        cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert run("pdflatex", "-interaction=nonstopmode", "doc.tex").returncode == 0
    bib = run("bibtex", "doc")
    assert bib.returncode == 0 and "Warning" not in bib.stdout, bib.stdout
    bbl = (tmp_path / "doc.bbl").read_text()
    assert bbl.count("\\bibitem") == 3
    assert "Zixiang Chen, Yihe Deng, Huizhuo Yuan, Kaixuan Ji, and Quanquan Gu" in bbl
    assert "Yibo Wang, Hai-Long Sun, Huzhang, Qing-Guo Chen" in " ".join(bbl.split())
