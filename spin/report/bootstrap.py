"""Paired bootstrap confidence intervals from per-sample logs.

Samples-file contract (provenance.samples_file of a results file): JSONL, one record per
scored document, each with
  - ``task``: the task name, as a key of the results file's ``tasks``;
  - ``doc_id``: an identifier of the document, equal across models for the same document;
  - ``score``: a number (0/1 for accuracy, a float otherwise; MT-Bench 1-10).
Other fields are ignored. A relative path is resolved against the results file's directory.

Two models are paired on the (task, doc_id) they both scored. Scores in [0, 1] on a suite
other than MT-Bench are scaled by 100 so the difference is in the same percentage points
as the results files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from spin.errors import DataError
from spin.io import read_jsonl

RESAMPLES = 10_000
SEED = 0
_CHUNK = 500  # resamples drawn at once: bounds memory at _CHUNK x n indices


def samples_path(result: dict) -> Path | None:
    """The results file's samples file, resolved, or None when it names none or it is absent."""
    name = (result.get("provenance") or {}).get("samples_file")
    if not name:
        return None
    path = Path(name)
    if not path.is_absolute():
        path = Path(result["_path"]).parent / path
    return path if path.exists() else None


def read_samples(path: str | Path) -> pd.DataFrame:
    """Per-document scores (task, doc_id, score); malformed records name file, line and field."""
    records = read_jsonl(path, required=("task", "doc_id", "score"))
    df = pd.DataFrame.from_records(records, columns=["task", "doc_id", "score"])
    scores = pd.to_numeric(df["score"], errors="coerce")
    if scores.isna().any():
        raise DataError(
            path, "score is not a number", line=int(scores.isna().idxmax()) + 1, field="score"
        )
    df["score"] = scores.astype(float)
    df["doc_id"] = df["doc_id"].astype(str)  # 12 and "12" name the same document
    dup = df.duplicated(["task", "doc_id"])
    if dup.any():
        raise DataError(
            path, "duplicate (task, doc_id)", line=int(dup.idxmax()) + 1, field="doc_id"
        )
    return df


def paired_ci(
    diff: np.ndarray, *, resamples: int = RESAMPLES, seed: int = SEED, level: float = 0.95
) -> tuple[float, float, float]:
    """Mean of paired differences and its percentile-bootstrap CI (seeded, so reproducible)."""
    diff = np.asarray(diff, dtype=float)
    if diff.size == 0:
        raise ValueError("no paired samples")
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for start in range(0, resamples, _CHUNK):
        k = min(_CHUNK, resamples - start)
        idx = rng.integers(0, diff.size, size=(k, diff.size))
        means[start : start + k] = diff[idx].mean(axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return float(diff.mean()), float(lo), float(hi)


def compare_samples(
    new: pd.DataFrame,
    base: pd.DataFrame,
    *,
    scale_to_percent: bool = True,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> pd.DataFrame:
    """Per task: n paired, unpaired counts, mean difference new − base and its 95% CI."""
    rows = []
    for task in sorted(set(new["task"]) & set(base["task"])):
        a = new[new["task"] == task].set_index("doc_id")["score"]
        b = base[base["task"] == task].set_index("doc_id")["score"]
        common = a.index.intersection(b.index).sort_values()
        if common.empty:
            continue
        scale = (
            100.0 if scale_to_percent and a.between(0, 1).all() and b.between(0, 1).all() else 1.0
        )
        diff = (a.loc[common].to_numpy() - b.loc[common].to_numpy()) * scale
        mean, lo, hi = paired_ci(diff, resamples=resamples, seed=seed)
        rows.append(
            {
                "task": task,
                "n_paired": int(common.size),
                "unpaired_new": int(a.size - common.size),
                "unpaired_base": int(b.size - common.size),
                "diff": round(mean, 2),
                "ci_low": round(lo, 2),
                "ci_high": round(hi, 2),
                "significant": bool(lo > 0 or hi < 0),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "task",
            "n_paired",
            "unpaired_new",
            "unpaired_base",
            "diff",
            "ci_low",
            "ci_high",
            "significant",
        ],
    )
