"""Citing: the reported cells behind one number, each with its provenance, and BibTeX for the
two papers and this suite (`spin cite`).

The BibTeX holds only what the project's facts and the papers' arXiv listings support.
T-SPIN's paper names eight authors; its arXiv listing gives the given names of seven and omits
the third (Huzhang), whose entry therefore holds the surname alone. CITATION.cff at the
repository root carries the same data for GitHub's "Cite this repository"; a test checks
that the two agree.
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata

import pandas as pd

from spin.errors import SpinError, nearest

HELP = "Print BibTeX for SPIN, T-SPIN and this replication suite."
EXAMPLE = "spin cite > spin.bib   (or only one entry: spin cite --only tspin)"

SUITE_TITLE = "spin-replication: a replication suite for self-play fine-tuning (SPIN, T-SPIN)"


def _version() -> str:
    try:
        return metadata.version("spin-replication")
    except metadata.PackageNotFoundError:  # running from a checkout that is not installed
        return "0.1.0"


SPIN_BIB = """@inproceedings{chen2024spin,
  title         = {Self-Play Fine-Tuning Converts Weak Language Models to Strong Language Models},
  author        = {Chen, Zixiang and Deng, Yihe and Yuan, Huizhuo and Ji, Kaixuan and Gu, Quanquan},
  booktitle     = {Proceedings of the 41st International Conference on Machine Learning (ICML)},
  year          = {2024},
  eprint        = {2401.01335},
  archivePrefix = {arXiv},
  url           = {https://arxiv.org/abs/2401.01335}
}
"""

TSPIN_BIB = """% T-SPIN: the paper's eight authors in its order; given names from the arXiv listing,
% which omits the third author (Huzhang, given name not known here).
@inproceedings{wang2025tspin,
  title         = {Triplets Better Than Pairs: Towards Stable and Effective Self-Play
                   Fine-Tuning for {LLMs}},
  author        = {Wang, Yibo and Sun, Hai-Long and Huzhang and Chen, Qing-Guo and Xu, Zhao
                   and Luo, Weihua and Zhang, Kaifu and Zhang, Lijun},
  booktitle     = {Advances in Neural Information Processing Systems (NeurIPS)},
  year          = {2025},
  eprint        = {2601.08198},
  archivePrefix = {arXiv},
  url           = {https://arxiv.org/abs/2601.08198}
}
"""


def suite_bib() -> str:
    """The suite's entry at the installed version; @misc, which every BibTeX style knows
    (plain.bst has no @software)."""
    return (
        "@misc{spin_replication,\n"
        # braces keep the acronyms' capitals under styles that lowercase titles
        f"  title  = {{{SUITE_TITLE.replace('(SPIN, T-SPIN)', '({SPIN}, {T-SPIN})')}}},\n"
        "  author = {{The spin-replication contributors}},\n"
        f"  note   = {{Version {_version()}; replicates Chen et al. (2024) and Wang et al. "
        "(2025). See CITATION.cff}\n"
        "}\n"
    )


def entries() -> dict[str, str]:
    """Every entry by its short name, in the order `spin cite` prints them."""
    return {"spin": SPIN_BIB, "tspin": TSPIN_BIB, "suite": suite_bib()}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `spin cite`."""
    parser.add_argument(
        "--only",
        action="append",
        choices=("spin", "tspin", "suite"),
        help="print only this entry (repeatable); default: all three",
    )


def main(args: argparse.Namespace) -> int:
    """Run `spin cite`."""
    chosen = entries()
    for name in args.only or chosen:
        sys.stdout.write(chosen[name] + "\n")
    return 0


# --- the cells behind a number -------------------------------------------------------------


def find_cells(
    reported: pd.DataFrame,
    *,
    model: str | None = None,
    benchmark: str | None = None,
    source: str | None = None,
) -> pd.DataFrame:
    """The registry's cells for a model (its label or Hub id), a benchmark and a source
    (a case-insensitive prefix such as 'SPIN', 'T-SPIN' or 'UCLA'); each filter optional.

    Raises SpinError naming the allowed values when a filter matches nothing."""
    sel = reported
    if source is not None:
        sel = sel[sel["source"].str.lower().str.startswith(source.lower())]
        if sel.empty:
            sources = sorted(set(reported["source"]))
            raise SpinError(
                f"--source '{source}' starts no reported source; sources: " + "; ".join(sources)
            )
    if model is not None:
        key = model.lower()
        hit = (sel["model"].str.lower() == key) | (sel["model_id"].str.lower() == key)
        if not hit.any():
            names = sorted(set(sel["model"]) | {m for m in sel["model_id"] if "/" in m})
            raise SpinError(
                f"--model '{model}': no reported row{nearest(model, names)}; "
                f"models: {', '.join(names)}"
            )
        sel = sel[hit]
    if benchmark is not None:
        if not (sel["benchmark"] == benchmark).any():
            names = sorted(set(sel["benchmark"]))
            raise SpinError(
                f"--benchmark '{benchmark}' has no reported cell"
                + (f" for '{model}'" if model else "")
                + f"{nearest(benchmark, names)}; benchmarks: {', '.join(names)}"
            )
        sel = sel[sel["benchmark"] == benchmark]
    return sel


def cell_line(row: dict | pd.Series) -> str:
    """One cell and its provenance on one line, fields labelled and separated by ' | '."""
    shots = row["shots"]
    fields = [
        row.get("value_text", f"{row['value']:.2f}"),
        f"source: {row['source']}",
        f"table: {row['table']}",
        f"harness: {row['harness']}, version: {row['harness_version']}",
        f"model: {row['model']} (base {row['base_model']})",
        f"model_id: {row['model_id']}",
        f"revision: {row['revision']}",
        f"benchmark: {row['benchmark']}",
        f"metric: {row['metric']}",
        f"shots: {'-' if pd.isna(shots) else int(shots)}",
        f"note: {row['note'] or '-'}",
    ]
    return " | ".join(str(f) for f in fields)
