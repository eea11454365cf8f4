"""A report build: reported numbers + results files -> comparison, tables, figures, HTML.

Layout of the output directory::

    comparison.csv        one row per (model, benchmark) with ours and reported (needs results)
    missing.csv           every '–' cell and every result with no reported counterpart
    results_long.csv      all our aggregated values, placed in a paper table or not (needs results)
    tables/KEY.{md,tex,csv}   the papers' tables, ours beside reported; and results-SUITE-BASE
                          for each (suite, base model) of ours that no paper table holds
    figures/NAME.{png,svg}
    index.html            all of it on one self-contained page
    manifest.json         sha256 of every file above and the matplotlib version that drew them

Everything is written into a staging directory first and moved into place at the end, so a
failed build leaves the previous outputs untouched.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pandas as pd

from spin.errors import nearest
from spin.io import replace_dir_contents, sha256_file
from spin.report import own_results, registry, results, tables
from spin.report.registry import PAPER_TABLES

FIGURE_CAPTIONS = {
    "average_over_iterations": "Average score over iterations: SFT, SPIN, T-SPIN, {sides}",
    "data_size": "T-SPIN Figure 4a: average score against training-set size, {sides}",
    "mtbench_radar": "MT-Bench per category (SPIN Figure 6)",
    "training_dynamics": (
        "Training dynamics: reward and log-likelihood of y, y′, y₀, mismatch share"
    ),
}


class Build:
    """Everything a report needs, computed up front; `write` renders it."""

    def __init__(
        self,
        output_dir: Path,
        *,
        reported_dir: Path | None = None,
        results_dir: Path | None = None,
        k_se: float = 2.0,
        absolute: float | None = None,
        only_figures: set[str] | None = None,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.only_figures = only_figures  # None: every figure the data allows
        self.reported_dir = Path(reported_dir) if reported_dir else registry.default_dir()
        self.reported = registry.load(self.reported_dir)
        self.tolerance = tables.Tolerance(k_se, absolute)
        self.has_results = results_dir is not None
        scan = results.scan(results_dir) if results_dir else results.Scan()
        self.scan = scan
        self.frame = results.to_frame(scan.results)
        self.ours = results.aggregate(self.frame)
        self.dynamics = results.dynamics_frame(scan.dynamics)
        self.warnings = self._name_warnings()
        self.comparison, unmatched = tables.comparison(self.reported, self.ours, self.tolerance)
        ours_arg = self.ours if self.has_results else None
        self.tables = {
            k: tables.paper_table(s, self.reported, ours_arg) for k, s in PAPER_TABLES.items()
        }
        # results no paper table holds get tables of their own; missing.csv names each such
        # model once instead of listing every one of its cells as "no reported value"
        self.own = own_results.own_tables(self.reported, self.ours)
        own_cells = {
            (n, b)
            for t in self.own
            for n, b in zip(t.frame["name"], t.frame["benchmark"], strict=True)
        }
        unmatched = [u for u in unmatched if (u["model"], u["benchmark"]) not in own_cells]
        missing = unmatched + [
            {
                "table": t.spec.key,
                "model": name,
                "benchmark": "(all)",
                "missing": "reported",
                "why": f"no paper reports suite '{t.spec.suites[0]}' on base model "
                f"'{t.spec.base_model}'; shown in its own table",
            }
            for t in self.own
            for name in dict.fromkeys(t.frame["name"])
        ]
        missing += [m for t in self.own for m in t.missing]
        missing += [m for _, _, miss in self.tables.values() for m in miss]
        self.missing = pd.DataFrame(
            missing, columns=["table", "model", "benchmark", "missing", "why"]
        )
        self.summary = self._summary()

    def _name_warnings(self) -> list[str]:
        known = registry.known_benchmarks(self.reported)
        out = []
        for _, r in self.frame.drop_duplicates(["path", "benchmark"]).iterrows():
            if r["benchmark"] not in known:
                out.append(
                    f"{r['path']}: benchmark '{r['benchmark']}' is not in the registry"
                    f"{nearest(r['benchmark'], known)}; it is kept but has no reported value"
                )
        return out

    def _summary(self) -> list[str]:
        s = [f"reported numbers: {len(self.reported)} cells from {self.reported_dir}"]
        if not self.has_results:
            return s + ["no results given: reported-only build"]
        multi = self.ours[self.ours["n_seeds"] > 1]["name"].unique() if not self.ours.empty else []
        models = self.ours["name"].nunique() if not self.ours.empty else 0
        s.append(
            f"results: {len(self.scan.results)} files, {models} "
            f"models; dynamics: {len(self.scan.dynamics)} files; ignored (no schema key): "
            f"{len(self.scan.skipped)} JSON files"
        )
        if len(multi):
            s.append(
                "aggregated over seeds (mean; stderr combines eval error and seed spread): "
                f"{', '.join(multi)}"
            )
        within = self.comparison["within_tolerance"]
        inside, outside = int((within == True).sum()), int((within == False).sum())  # noqa: E712
        s.append(
            f"comparison: {len(self.comparison)} cells, {inside} within tolerance, "
            f"{outside} outside, {int(within.isna().sum())} without a verdict; "
            f"tolerance: {self.tolerance.describe()}"
        )
        for t in self.own:
            names = list(dict.fromkeys(t.frame["name"]))
            s.append(
                f"outside the papers' tables: {len(names)} models on suite "
                f"'{t.spec.suites[0]}', base model '{t.spec.base_model}' ({', '.join(names)}): "
                f"table and figure {t.spec.key}"
            )
        s.append(f"missing cells listed: {len(self.missing)}")
        return s

    def write(self) -> list[Path]:
        """Render every output; returns the final paths."""

        self.output_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".report-", dir=self.output_dir) as tmp:
            stage = Path(tmp)
            files = self._render(stage)
            names = [
                "comparison.csv",
                "missing.csv",
                "results_long.csv",
                "tables",
                "figures",
                "index.html",
                "manifest.json",
            ]
            replace_dir_contents(stage, self.output_dir, names)
        return [self.output_dir / f for f in files]

    def _render(self, stage: Path) -> list[str]:
        from spin.report import figures, html

        written: list[Path] = []
        if self.has_results:
            self.comparison.to_csv(stage / "comparison.csv", index=False)
            self.ours.drop(columns=["paths"]).to_csv(stage / "results_long.csv", index=False)
            written += [stage / "comparison.csv", stage / "results_long.csv"]
        self.missing.to_csv(stage / "missing.csv", index=False)
        written.append(stage / "missing.csv")
        tdir = stage / "tables"
        tdir.mkdir()
        own = [(t.spec, (t.display, t.long, t.missing)) for t in self.own]
        for spec, (display, long, miss) in [
            (PAPER_TABLES[k], v) for k, v in self.tables.items()
        ] + own:
            key = spec.key
            (tdir / f"{key}.md").write_text(
                tables.to_markdown(spec, display, miss), encoding="utf-8"
            )
            (tdir / f"{key}.tex").write_text(tables.to_latex(spec, display), encoding="utf-8")
            long.to_csv(tdir / f"{key}.csv", index=False)
            written += [tdir / f"{key}.{ext}" for ext in ("md", "tex", "csv")]
        figs, skipped = self._figures(stage / "figures", figures)
        written += [p for _, paths in figs for p in paths]
        drawn = dict(figs)
        sides = self._sides()
        own_keys = {t.spec.key for t in self.own}
        pngs = [
            (
                (FIGURE_CAPTIONS.get(stem) or _tasks_caption(stem)).replace("{sides}", sides),
                paths[0],
            )
            for stem, paths in figs
            if stem not in own_keys
        ]
        page = html.page(
            title="SPIN / T-SPIN replication report",
            summary=self.summary,
            comparison=self.comparison if self.has_results else None,
            tolerance=self.tolerance.describe(),
            own=[
                html.OwnSection(
                    t.spec.title,
                    t.display,
                    t.missing,
                    own_results.caption(t),
                    drawn[t.spec.key][0] if t.spec.key in drawn else None,
                )
                for t in self.own
            ],
            tables=[(PAPER_TABLES[k].title, d, m) for k, (d, _, m) in self.tables.items()],
            figures=pngs,
            skipped_figures=skipped,
            missing=self.missing,
            provenance=html.provenance_frame(self.scan.results),
            reported_readme=(self.reported_dir / "README.md").read_text(encoding="utf-8")
            if (self.reported_dir / "README.md").exists()
            else "",
        )
        (stage / "index.html").write_text(page, encoding="utf-8")
        written.append(stage / "index.html")
        import matplotlib

        manifest = {
            "matplotlib": matplotlib.__version__,
            "files": {str(p.relative_to(stage)): sha256_file(p) for p in sorted(written)},
        }
        (stage / "manifest.json").write_text(
            json.dumps(manifest, indent=1) + "\n", encoding="utf-8"
        )
        return [str(p.relative_to(stage)) for p in written] + ["manifest.json"]

    def _sides(self) -> str:
        """What the paper figures hold: 'reported', or 'reported vs ours' when some of our
        results sit in a paper table (captions name only what is drawn)."""
        unplaced = set(own_results.unplaced_pairs(self.ours))
        pairs = set(self.ours[["base_model", "suite"]].itertuples(index=False, name=None))
        return "reported vs ours" if pairs - unplaced else "reported"

    def figure_plan(self) -> tuple[list[str], list[str]]:
        """Stems of the figures this build can draw from its data, and why others cannot."""
        stems = ["average_over_iterations", *[f"tasks_{k}" for k in PAPER_TABLES]]
        stems += [own_results.figure_stem(t) for t in self.own]
        skipped = []
        mt = (
            self.ours[
                (self.ours["suite"] == "mt-bench")
                & self.ours["benchmark"].isin(registry.MT_BENCH_CATEGORIES)
            ]
            if not self.ours.empty
            else self.ours
        )
        if not mt.empty:
            stems.append("mtbench_radar")
        else:
            skipped.append(
                "MT-Bench radar: no mt-bench results with per-category scores "
                "(the papers print no per-category numbers, only a plot)"
            )
        stems.append("data_size")
        if not self.dynamics.empty:
            stems.append("training_dynamics")
        else:
            skipped.append(
                "training dynamics: no spin-dynamics/1 files under the results directory "
                "(the papers show these only as plots)"
            )
        return stems, skipped

    def _figures(self, fdir: Path, figures) -> tuple[list[tuple[str, list[Path]]], list[str]]:
        from spin.report import dynamics_figure, task_bars

        figures.configure()
        stems, skipped = self.figure_plan()
        draw = {
            "average_over_iterations": lambda: figures.average_over_iterations(
                self.reported, self.ours, fdir
            ),
            "mtbench_radar": lambda: figures.mtbench_radar(self.ours, fdir),
            "data_size": lambda: figures.data_size(self.reported, self.ours, fdir),
            "training_dynamics": lambda: dynamics_figure.training_dynamics(
                dynamics_figure.frame(self.scan.dynamics), fdir
            ),
            **{
                own_results.figure_stem(t): (lambda t=t: own_results.figure(t, fdir))
                for t in self.own
            },
            **{
                f"tasks_{k}": (lambda k=k: task_bars.task_bars(self.reported, self.ours, k, fdir))
                for k in PAPER_TABLES
            },
        }
        out = []
        for stem in stems:
            if self.only_figures is not None and stem not in self.only_figures:
                skipped.append(f"{stem}: not requested (--figures)")
                continue
            out.append((stem, draw[stem]()))
        return out, skipped


def _tasks_caption(stem: str) -> str:
    key = stem.removeprefix("tasks_")
    return f"Per-task scores per iteration, {PAPER_TABLES[key].title}, {{sides}}"
