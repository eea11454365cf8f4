"""LaTeX for the report's tables: escaping, the best value per column in bold, a caption that
describes only what the table holds, and a width that never exceeds the text block.

The output is a ``table`` float to ``\\input`` into a paper whose preamble loads booktabs and
graphicx (both in TeX Live's latex-base/latex-recommended). It is plain ASCII, so pdflatex
needs no extra Unicode set-up: ``±`` becomes ``$\\pm$``, ``–`` becomes ``--``.
"""

from __future__ import annotations

import re

import pandas as pd

PREAMBLE = "\\usepackage{booktabs}\n\\usepackage{graphicx}\n"
LABEL_COLUMNS = ("Model", "Run")
# Characters with a meaning in LaTeX, then the Unicode the tables use, as ASCII LaTeX.
_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "–": "--",
    "—": "---",
    "−": "$-$",
    "′": "$'$",
    "≤": r"$\le$",
    "≥": r"$\ge$",
    "×": r"$\times$",
}
_SPECIAL_RE = re.compile("|".join(re.escape(c) for c in _SPECIAL))
# The number a cell starts with: "63.40", "63.50 ± 1.49" and "60.80 (+2.66)" all give 63.40...
_LEADING = re.compile(r"^(-?\d+(?:\.\d+)?)(.*)$", re.S)


def escape(text: str) -> str:
    """`text` as LaTeX source that typesets it literally (ASCII only for the known symbols)."""
    return _SPECIAL_RE.sub(lambda m: _SPECIAL[m.group(0)], str(text))


def best_cells(display: pd.DataFrame) -> set[tuple[int, str]]:
    """(row, column) of the highest value in each value column, ties included.

    Values are compared as printed (two decimals), so two cells that print alike are both
    best. A column with fewer than two values has no best. Every benchmark here is
    higher-is-better (accuracies, MT-Bench's score)."""
    best: set[tuple[int, str]] = set()
    for col in display.columns:
        if col in LABEL_COLUMNS:
            continue
        printed = {i: m.group(1) for i, v in display[col].items() if (m := _LEADING.match(str(v)))}
        if len(printed) < 2:
            continue
        top = max(float(p) for p in printed.values())
        best |= {(i, col) for i, p in printed.items() if float(p) == top}
    return best


def _cell(text: str, bold: bool) -> str:
    # a change "(-0.23)" gets a real minus sign, not a hyphen
    text = str(text).replace("(-", "(−")
    m = _LEADING.match(text)
    if bold and m:
        return r"\textbf{" + escape(m.group(1)) + "}" + escape(m.group(2))
    return escape(text)


def table(
    display: pd.DataFrame,
    *,
    caption: str,
    label: str,
    comment: str = "",
) -> str:
    """`display` (label columns, then value columns of formatted text) as a LaTeX table float.

    The Run column is dropped when every row is 'reported' (it would say nothing). A table
    wider than the text block is scaled down to it (graphicx's \\resizebox with \\width),
    never up; \\small and a narrower column gap keep that scaling small.
    """
    shown = display
    if "Run" in shown.columns and set(shown["Run"]) <= {"reported"}:
        shown = shown.drop(columns=["Run"])
    shown = shown.reset_index(drop=True)
    bold = best_cells(shown)
    labels = sum(c in LABEL_COLUMNS for c in shown.columns)
    spec = "@{}" + "l" * labels + "r" * (shown.shape[1] - labels) + "@{}"
    rows = [" & ".join(escape(c) for c in shown.columns) + r" \\"]
    for i, rec in shown.iterrows():
        rows.append(" & ".join(_cell(rec[c], (i, c) in bold) for c in shown.columns) + r" \\")
    lines = [
        f"% {comment}" if comment else None,
        "% Needs in the preamble: \\usepackage{booktabs} and \\usepackage{graphicx}.",
        r"\begin{table}[htbp]",
        r"\centering",
        r"\small",
        r"\setlength{\tabcolsep}{4pt}",
        # the caption sits above the table: the article class leaves no gap below it
        r"\setlength{\abovecaptionskip}{0pt}",
        r"\setlength{\belowcaptionskip}{6pt}",
        r"\caption{" + escape(caption) + "}",
        r"\label{" + label + "}",
        r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
        r"\begin{tabular}{" + spec + "}",
        r"\toprule",
        rows[0],
        r"\midrule",
        *rows[1:],
        r"\bottomrule",
        r"\end{tabular}}",
        r"\end{table}",
    ]
    return "\n".join(x for x in lines if x is not None) + "\n"


def document(fragments: list[str]) -> str:
    """A minimal article around table fragments: what the compile test and a quick look use."""
    body = "\n".join(fragments)
    return (
        "\\documentclass{article}\n" + PREAMBLE + "\\begin{document}\n" + body + "\\end{document}\n"
    )
