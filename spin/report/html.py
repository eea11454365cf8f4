"""One self-contained HTML page: every table and figure, and where each result came from.

Images are embedded as base64 PNG, styles are inline; the page loads nothing from the
network, so it can be mailed or archived as a single file. Nothing time-dependent is
written, so regenerating from the same inputs gives the same bytes.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from markdown_it import MarkdownIt

STYLE = """
body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;max-width:1200px;margin:2em auto;
     padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1em;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f0f0f0} td:first-child,td:nth-child(2){text-align:left}
img{max-width:100%;border:1px solid #ddd;margin:0.5em 0}
.note{color:#555;font-size:13px} code{background:#f4f4f4;padding:0 3px}
.scroll{max-height:480px;overflow:auto;border:1px solid #ddd} .scroll td{white-space:nowrap}
"""

PROVENANCE_FIELDS = (
    "harness",
    "git_commit",
    "date",
    "hardware",
    "seed",
    "duration_s",
    "samples_file",
)


@dataclass
class OwnSection:
    """A table of our results that no paper table holds, and its figure."""

    title: str
    display: pd.DataFrame
    missing: list[dict]
    caption: str
    png: Path | None  # None when the figure was not requested (--figures)


def markdown(text: str) -> str:
    """Markdown as HTML: CommonMark plus tables (markdown-it-py, which the lock installs via
    rich). Raw HTML in the text is escaped, not passed through, so a README cannot inject
    markup into the page."""
    rendered = MarkdownIt("commonmark", {"html": False}).enable("table").render(text)
    # the README's headings sit under the page's h2 "Sources": two levels down
    return re.sub(r"<(/?)h([1-6])>", lambda m: f"<{m[1]}h{min(6, int(m[2]) + 2)}>", rendered)


def _figure(caption: str, png: Path) -> str:
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    e = html.escape
    return (
        f"<figure><img alt='{e(caption)}' src='data:image/png;base64,{data}'>"
        f"<figcaption>{e(caption)} (<code>{e(png.name)}</code>, SVG beside it)"
        "</figcaption></figure>"
    )


def _table(df: pd.DataFrame) -> str:
    if df.empty:
        return "<p class='note'>(none)</p>"
    return df.to_html(index=False, na_rep="–", border=0, escape=True)


def provenance_frame(results: list[dict]) -> pd.DataFrame:
    """One row per results file: model, suite, file and the provenance fields that exist."""
    rows = []
    for r in results:
        prov = r.get("provenance", {})
        row = {"model": r["model"]["name"], "suite": r["suite"], "file": r["_path"]}
        for key in PROVENANCE_FIELDS:
            value = prov.get(key)
            row[key] = "–" if value in (None, "") else str(value)
        rows.append(row)
    return pd.DataFrame(rows, columns=["model", "suite", "file", *PROVENANCE_FIELDS])


def page(
    *,
    title: str,
    summary: list[str],
    comparison: pd.DataFrame | None,
    tolerance: str,
    own: list[OwnSection],
    tables: list[tuple[str, pd.DataFrame, list[dict]]],
    figures: list[tuple[str, Path]],
    skipped_figures: list[str],
    missing: pd.DataFrame,
    provenance: pd.DataFrame,
    reported_readme: str,
) -> str:
    """Assemble the page.

    `own`: our results outside the papers' tables; `tables`: (title, display frame, missing
    cells) of the papers' tables; `figures`: (caption, png).
    """
    e = html.escape
    out = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{e(title)}</title>",
        f"<style>{STYLE}</style></head><body><h1>{e(title)}</h1>",
    ]
    out += ["<ul>"] + [f"<li>{e(s)}</li>" for s in summary] + ["</ul>"]
    own_link = "<li><a href='#own'>Our results outside the papers' tables</a></li>" if own else ""
    out.append(
        "<h2>Contents</h2><ol><li><a href='#comparison'>Comparison</a></li>"
        f"{own_link}"
        "<li><a href='#tables'>Paper tables</a></li><li><a href='#figures'>Figures</a></li>"
        "<li><a href='#missing'>Missing cells</a></li><li><a href='#provenance'>Provenance</a></li>"
        "<li><a href='#sources'>Sources of the reported numbers</a></li></ol>"
    )
    out.append("<h2 id='comparison'>Ours against reported</h2>")
    if comparison is None:
        out.append(
            "<p class='note'>No results given: this build shows the reported numbers only.</p>"
        )
    else:
        out.append(
            f"<p class='note'>within_tolerance: {e(tolerance)}. delta = ours − reported. "
            f"{len(comparison)} rows, also in <code>comparison.csv</code>.</p>"
        )
        if comparison.empty and own:
            out.append(
                "<p class='note'>None of the results has a reported counterpart: they are "
                "under <a href='#own'>Our results outside the papers' tables</a>.</p>"
            )
        else:
            out.append(f"<div class='scroll'>{_table(comparison)}</div>")  # long: scroll
    if own:
        out.append("<h2 id='own'>Our results outside the papers' tables</h2>")
        out.append(
            "<p class='note'>Results whose suite and base model no paper table holds: every "
            "model, with no reported value to compare against.</p>"
        )
    for sec in own:
        out.append(f"<h3>{e(sec.title)}</h3>{_table(sec.display)}")
        if sec.missing:
            out.append(
                f"<p class='note'>{len(sec.missing)} missing cell(s), listed under Missing "
                "cells.</p>"
            )
        if sec.png is not None:
            out.append(_figure(sec.caption, sec.png))
    out.append("<h2 id='tables'>Paper tables, ours beside reported</h2>")
    for name, display, miss in tables:
        out.append(f"<h3>{e(name)}</h3>{_table(display)}")
        if miss:
            out.append(
                f"<p class='note'>{len(miss)} missing cell(s), listed under Missing cells.</p>"
            )
    out.append(
        "<p class='note'>Values in %, MT-Bench 1–10. Average column: in parentheses, the change "
        "from the previous iteration of the same method (iteration 0: from the base model).</p>"
    )
    out.append("<h2 id='figures'>Figures</h2>")
    out += [_figure(caption, png) for caption, png in figures]
    if skipped_figures:
        out.append("<p class='note'>Not drawn:</p><ul>")
        out += [f"<li>{e(s)}</li>" for s in skipped_figures] + ["</ul>"]
    out.append("<h2 id='missing'>Missing cells</h2>")
    out.append(
        "<p class='note'>Every cell shown as '–' above, and every result with no reported "
        f"counterpart.</p><div class='scroll'>{_table(missing)}</div>"
    )
    out.append("<h2 id='provenance'>Provenance of our results</h2>" + _table(provenance))
    out.append("<h2 id='sources'>Sources of the reported numbers</h2>")
    out.append(f"<div class='sources'>{markdown(reported_readme)}</div>")
    out.append("</body></html>\n")
    return "\n".join(out)
