"""The registry of reported numbers: every cell the SPIN and T-SPIN papers print, as data.

The transcription lives in ``reports/reported/`` (``reported_results.csv`` plus
``reported_text.csv`` for the few numbers stated only in a paper's text). This module
loads it, checks it, maps its model labels onto the results schema's
``(base_model, method, iteration)`` and describes the papers' table layouts.

Label mapping (reported model label -> results-schema model fields), per base model B:

==========================================  ==============================
reported label                              (method, iteration)
==========================================  ==============================
``B`` itself (zephyr-7b-sft-full, ...)      ("sft", any)  -- the starting checkpoint
``SFT (200k)``, ``B + 1 more SFT epoch``    ("continued_sft", any)
``SFT (50k)`` (text of T-SPIN Fig. 4a)      ("continued_sft", any)
``zephyr-7b-dpo-full (DPO)``                ("dpo", any)
``SPIN iterN``                              ("spin", N)
``T-SPIN iterN``                            ("tspin", N)
``T-SPIN w/o historical advantage iterN``   ("tspin_noha", N)
==========================================  ==============================

Two reported rows can share a key (continued SFT appears in SPIN Table 3 and T-SPIN
Table 1); the results file's suite decides which table is compared (``SUITE_TABLES``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from spin.errors import DataError, nearest
from spin.method import METHODS

COLUMNS = [
    "source",
    "table",
    "base_model",
    "model",
    "model_id",
    "revision",
    "benchmark",
    "metric",
    "shots",
    "harness",
    "harness_version",
    "value",
    "note",
]
# What a cell's provenance says when its source is silent: an explicit sentence, never blank.
NOT_STATED = "not stated"
# Hub ids are owner/name; revisions are full commit hashes.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_REVISION = re.compile(r"^[0-9a-f]{40}$")
# Printed values: digits with their printed decimals ("35.10" stays "35.10").
_PRINTED = re.compile(r"^-?\d+(\.\d+)?$")
# Benchmarks whose printed metric name alone does not say what was computed: the note must.
NOTE_REQUIRED = ("gsm8k", "mmlu", "ifeval", "math", "mt_bench", "average")

# Task names per suite, as the results schema uses them. The reported CSV's names are canonical.
SUITES: dict[str, tuple[str, ...]] = {
    "openllm-v1": ("arc_challenge", "hellaswag", "truthfulqa_mc2", "mmlu", "winogrande", "gsm8k"),
    "tspin-10": (
        "gsm8k",
        "math",
        "musr",
        "mmlu",
        "mmlu_pro",
        "gpqa",
        "hellaswag",
        "winogrande",
        "bbh",
        "ifeval",
    ),
    "spin-bbh": (
        "bbh_causal_judgement",
        "bbh_formal_fallacies",
        "bbh_sports_understanding",
        "openbookqa",
    ),
    "mt-bench": (
        "mt_bench",
        "turn1",
        "turn2",
        "writing",
        "roleplay",
        "reasoning",
        "math",
        "coding",
        "extraction",
        "stem",
        "humanities",
    ),
    "tiny": ("tiny_add", "tiny_sort", "tiny_reverse", "tiny_repeat", "tiny_lookup"),
}
MT_BENCH_CATEGORIES = (
    "writing",
    "roleplay",
    "reasoning",
    "math",
    "coding",
    "extraction",
    "stem",
    "humanities",
)

# Human-readable column headers, as the papers print them.
DISPLAY = {
    "arc_challenge": "ARC",
    "truthfulqa_mc2": "TruthfulQA",
    "winogrande": "Winogrande",
    "gsm8k": "GSM8k",
    "hellaswag": "HellaSwag",
    "mmlu": "MMLU",
    "average": "Average",
    "mt_bench": "MT-Bench",
    "bbh_causal_judgement": "BB causal",
    "bbh_formal_fallacies": "BB formal",
    "bbh_sports_understanding": "BB sports",
    "openbookqa": "OpenBookQA",
    "math": "MATH",
    "musr": "MuSR",
    "mmlu_pro": "MMLU-Pro",
    "gpqa": "GPQA",
    "bbh": "BBH",
    "ifeval": "IFEval",
}

SPIN_V2 = "SPIN arXiv:2401.01335 v2"
SPIN_V3 = "SPIN arXiv:2401.01335 v3 (secondary transcription)"
TSPIN = "T-SPIN arXiv:2601.08198 (NeurIPS 2025)"
TSPIN_T4 = "Table 4 (appendix B.3; row labels rebuilt from the text)"

# Which reported tables a results file of each suite is compared against, in preference order.
SUITE_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "openllm-v1": (
        (SPIN_V2, "Table 2 (Table 4 in v3)"),
        (SPIN_V2, "Table 3 (Table 5 in v3)"),
        (SPIN_V3, "Table 3"),
    ),
    "spin-bbh": ((SPIN_V2, "Table 4 (Table 6 in v3)"),),
    "mt-bench": ((SPIN_V2, "Table 4 (Table 6 in v3)"),),
    "tspin-10": ((TSPIN, "Table 1"), (TSPIN, "Table 2"), (TSPIN, TSPIN_T4)),
}

# Methods without iterations (θ0, continued SFT, DPO) and the self-play methods by the label
# the papers' rows (and our result names) give them: spin.method's records.
NON_ITERATIVE = {name for name, m in METHODS.items() if not m.self_play}
_ITER_METHOD = {m.label: name for name, m in METHODS.items() if m.self_play}
_ITER_LABEL = re.compile(
    r"^("
    + "|".join(re.escape(x) for x in sorted(_ITER_METHOD, key=len, reverse=True))
    + r") iter(\d+)$"
)
_SIZE = re.compile(r"\((\d+)k\b")


@dataclass(frozen=True)
class TableSpec:
    """One of the papers' tables: which reported rows it shows and in which column order."""

    key: str
    title: str
    base_model: str
    suites: tuple[str, ...]
    benchmarks: tuple[str, ...]
    # (source, table) pairs whose rows appear, in order; optional method filter per pair.
    parts: tuple[tuple[str, str, tuple[str, ...] | None], ...] = field(default=())

    @property
    def has_average(self) -> bool:
        return "average" in self.benchmarks


_OPENLLM = (
    "arc_challenge",
    "truthfulqa_mc2",
    "winogrande",
    "gsm8k",
    "hellaswag",
    "mmlu",
    "average",
)
_TSPIN10 = (
    "gsm8k",
    "math",
    "musr",
    "mmlu",
    "mmlu_pro",
    "gpqa",
    "hellaswag",
    "winogrande",
    "bbh",
    "ifeval",
    "average",
)

PAPER_TABLES: dict[str, TableSpec] = {
    t.key: t
    for t in (
        TableSpec(
            "spin-table2",
            "SPIN Table 2: Open LLM Leaderboard v1, zephyr-7b-sft-full",
            "zephyr-7b-sft-full",
            ("openllm-v1",),
            _OPENLLM,
            ((SPIN_V2, "Table 2 (Table 4 in v3)", None),),
        ),
        TableSpec(
            "spin-table4",
            "SPIN Table 4: MT-Bench, BIG-Bench-Hard and OpenBookQA, zephyr-7b-sft-full",
            "zephyr-7b-sft-full",
            ("mt-bench", "spin-bbh"),
            (
                "mt_bench",
                "bbh_causal_judgement",
                "bbh_formal_fallacies",
                "bbh_sports_understanding",
                "openbookqa",
            ),
            ((SPIN_V2, "Table 4 (Table 6 in v3)", None),),
        ),
        TableSpec(
            "tspin-table1",
            "T-SPIN Table 1: 10 tasks, zephyr-7b-sft-full",
            "zephyr-7b-sft-full",
            ("tspin-10",),
            _TSPIN10,
            ((TSPIN, "Table 1", None),),
        ),
        TableSpec(
            "tspin-table2",
            "T-SPIN Table 2: without the historical advantage (T-SPIN rows from Table 1)",
            "zephyr-7b-sft-full",
            ("tspin-10",),
            _TSPIN10,
            ((TSPIN, "Table 1", ("tspin",)), (TSPIN, "Table 2", None)),
        ),
        TableSpec(
            "tspin-table4",
            "T-SPIN Table 4: 10 tasks, mistral-7b-v0.1 (row labels rebuilt from the text)",
            "mistral-7b-v0.1",
            ("tspin-10",),
            _TSPIN10,
            ((TSPIN, TSPIN_T4, None),),
        ),
    )
}


def default_dir() -> Path:
    """Where the transcription lives: $SPIN_REPORTED_DIR, else reports/reported in the repo."""
    env = os.environ.get("SPIN_REPORTED_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "reports" / "reported"


def parse_label(label: str, base_model: str) -> tuple[str, int | None]:
    """Map a reported model label to the results schema's (method, iteration)."""
    if label == base_model:
        return "sft", None
    if label.startswith("SFT (") or "more SFT epoch" in label:
        return "continued_sft", None
    if "(DPO)" in label:
        return "dpo", None
    m = _ITER_LABEL.match(label)
    if m:
        return _ITER_METHOD[m.group(1)], int(m.group(2))
    return "unknown", None


def known_benchmarks(reported: pd.DataFrame | None = None) -> set[str]:
    """Every benchmark name the registry or a suite knows, plus 'average'."""
    names = {"average"}
    for tasks in SUITES.values():
        names.update(tasks)
    if reported is not None:
        names.update(reported["benchmark"])
    return names


def load(directory: str | Path | None = None, *, check: bool = True) -> pd.DataFrame:
    """Load the reported numbers (long form, COLUMNS) plus derived `method`, `iteration`.

    Raises DataError naming the file, line and field when the transcription is malformed or
    (with check=True) inconsistent.
    """
    directory = Path(directory) if directory else default_dir()
    frames = []
    for name in ("reported_results.csv", "reported_text.csv"):
        path = directory / name
        if not path.exists():
            if name == "reported_results.csv":
                raise DataError(path, "reported numbers not found (set SPIN_REPORTED_DIR)")
            continue
        frame = _read(path)
        if check:
            check_frame(frame, path)
        frames.append(frame)
    df = pd.concat(frames, ignore_index=True)
    parsed = [parse_label(m, b) for m, b in zip(df["model"], df["base_model"], strict=True)]
    df["method"] = [p[0] for p in parsed]
    df["iteration"] = pd.array([p[1] for p in parsed], dtype="Int64")
    return df


def _read(path: Path) -> pd.DataFrame:
    try:
        # every column as text, so a value keeps its printed decimals ("35.10", not 35.1)
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as e:
        raise DataError(path, f"cannot parse as CSV ({e})") from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DataError(path, "missing column", field=missing[0])
    df = df[COLUMNS].copy()
    shots = pd.to_numeric(df["shots"].replace("", None), errors="coerce")
    bad = shots.isna() & (df["shots"] != "")
    if bad.any():
        raise DataError(
            path, "shots is not a whole number", line=int(bad.idxmax()) + 2, field="shots"
        )
    df["shots"] = shots.astype("Int64")
    bad = ~df["value"].str.fullmatch(_PRINTED)
    if bad.any():
        raise DataError(path, "value is not a number", line=int(bad.idxmax()) + 2, field="value")
    df["value_text"] = df["value"]  # for printing and citing
    df["value"] = df["value"].astype(float)  # for arithmetic
    df["_file"], df["_line"] = path.name, df.index + 2
    return df


def check_frame(df: pd.DataFrame, path: str | Path) -> None:
    """Check a transcription: known names, provenance, no duplicate cells, averages.

    Provenance: harness, harness_version, model_id and revision are never blank (a silent
    source says so, "not stated ..."); a model_id is a Hub id (owner/name) and a revision a
    40-hex commit; one row of a table has one model_id and revision; the benchmarks in
    NOTE_REQUIRED carry a note. The printed average must equal the mean of the row's cells
    to within 0.01, unless the row's note says how it differs (the README lists the one such
    row).
    """
    _check_provenance(df, path)
    known = known_benchmarks()
    for i, name in df["benchmark"].items():
        if name not in known:
            raise DataError(
                path,
                f"unknown benchmark '{name}'{nearest(name, known)}",
                line=int(i) + 2,
                field="benchmark",
            )
    key = ["source", "table", "base_model", "model", "benchmark"]
    dup = df.duplicated(key)
    if dup.any():
        raise DataError(path, "duplicate cell", line=int(dup.idxmax()) + 2, field="benchmark")
    cells = df[df["benchmark"] != "average"]
    means = cells.groupby(key[:4], sort=False)["value"].agg(["mean", "size"])
    for i, row in df[df["benchmark"] == "average"].iterrows():
        k = tuple(row[c] for c in key[:4])
        if k not in means.index or means.loc[k, "size"] < 2:
            continue  # an average stated alone (e.g. from the text) has no cells to check
        explained = "differs" in row["note"]  # every average has a note; this one must say why
        if abs(means.loc[k, "mean"] - row["value"]) > 0.01 + 1e-9 and not explained:
            raise DataError(
                path,
                f"average {row['value']} differs from the mean of its cells "
                f"{means.loc[k, 'mean']:.3f} and no note explains it",
                line=int(i) + 2,
                field="value",
            )


def _check_provenance(df: pd.DataFrame, path: str | Path) -> None:
    def fail(i, field: str, message: str) -> None:
        raise DataError(path, message, line=int(i) + 2, field=field)

    stated = {
        "model_id": (_HUB_ID, "a Hub id (owner/name)"),
        "revision": (_REVISION, "a 40-hex commit"),
        "harness": (None, "a harness name"),
        "harness_version": (None, "a version or commit"),
    }
    for col, (pattern, what) in stated.items():
        for i, text in df[col].items():
            if not text.strip():
                fail(i, col, f"empty; give {what} or '{NOT_STATED} in the paper'")
            if pattern and not text.startswith(NOT_STATED) and not pattern.fullmatch(text):
                fail(i, col, f"'{text}' is neither {what} nor '{NOT_STATED} ...'")
    for i, row in df[
        df["benchmark"].isin(NOTE_REQUIRED) & (df["note"].str.strip() == "")
    ].iterrows():
        fail(i, "note", f"{row['benchmark']} needs a note saying how its value was computed")
    per_row = df.groupby(["source", "table", "base_model", "model"], sort=False)
    for col in ("model_id", "revision"):
        varies = per_row[col].transform("nunique") > 1
        if varies.any():
            fail(varies.idxmax(), col, "differs between the cells of one model's row")


def long_form(df: pd.DataFrame) -> pd.DataFrame:
    """The registry as printed by `spin report --reported`: COLUMNS only, each value as the
    paper prints it (text, so "35.10" keeps its zero)."""
    out = df[COLUMNS].reset_index(drop=True)
    if "value_text" in df.columns:
        out["value"] = df["value_text"].to_numpy()
    return out


def table_rows(reported: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """The reported cells of one paper table, in the paper's row order."""
    parts = []
    for source, table, methods in spec.parts:
        sel = reported[(reported["source"] == source) & (reported["table"] == table)]
        if methods is not None:
            sel = sel[sel["method"].isin(methods)]
        parts.append(sel)
    return pd.concat(parts, ignore_index=True)


def label_examples(label: str) -> int | None:
    """Training-set size stated in a label such as 'SFT (200k)', else None."""
    m = _SIZE.search(label)
    return int(m.group(1)) * 1000 if m else None


def matches(
    row: pd.Series | dict, method: str, iteration: int | None, train_examples: int | None = None
) -> bool:
    """Whether a reported row (with derived method/iteration) stands for our model.

    Non-iterative methods ignore the iteration; a size in the label (e.g. '(200k)') must
    agree with our model.train_examples when both are known."""
    if row["method"] != method:
        return False
    if method not in NON_ITERATIVE:
        it = row["iteration"]
        if iteration is None or pd.isna(it) or int(it) != int(iteration):
            return False
    size = label_examples(row["model"])
    return not (
        size and train_examples and not pd.isna(train_examples) and size != int(train_examples)
    )


def lookup(
    reported: pd.DataFrame,
    suite: str,
    base_model: str,
    method: str,
    iteration: int | None,
    train_examples: int | None = None,
) -> pd.DataFrame:
    """Reported cells for one of our models: the first table (by SUITE_TABLES order) that
    has a row for (base_model, method, iteration). Empty if none does."""
    size_ok = train_examples is not None and not pd.isna(train_examples)
    for source, table in SUITE_TABLES.get(suite, ()):
        sel = reported[
            (reported["source"] == source)
            & (reported["table"] == table)
            & (reported["base_model"] == base_model)
            & (reported["method"] == method)
        ]
        if method not in NON_ITERATIVE:
            sel = sel[sel["iteration"] == iteration] if iteration is not None else sel.iloc[0:0]
        if size_ok and not sel.empty:  # same rule as `matches`, vectorised
            sizes = sel["model"].map(label_examples)
            sel = sel[sizes.isna() | (sizes == int(train_examples))]
        if not sel.empty:
            return sel
    return reported.iloc[0:0]
