"""Paired bootstrap confidence intervals from per-sample logs, paired by document content.

Samples-file contract (provenance.samples_file of a results file): JSONL, one record per
scored document, each with
  - ``task``: the task name, as a key of the results file's ``tasks``;
  - ``doc_id``: the harness's identifier of the document (kept for reading, never for pairing);
  - ``score``: a number (0/1 for accuracy, a float otherwise; MT-Bench 1-10);
  - optionally ``doc_hash`` (or ``doc_key``): a hash of the document's content.
A relative path is resolved against the results file's directory.

Pairing key (``doc_key``): the document's content, never its position. lm-eval's ``doc_hash``
(sha256 of the document JSON) where the samples carry it; for ``spin eval``'s own samples it
is looked up in the lm-eval samples beside them (provenance.lm_eval_samples_file) by
(subtask, index, filter); for MT-Bench it is ``mt-bench/<question_id>/<turn>`` (fixed ids of
a pinned question set). A document appearing twice in a task is keyed ``hash#1``, ``hash#2``.

Two models are paired on a task only when they scored exactly the same documents (the same
set of keys): otherwise the row says "different data" and gives no difference. Scores in
[0, 1] on a suite other than MT-Bench are scaled by 100, so differences are percentage points.
The significance rule is ``SIGNIFICANCE_RULE``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from spin.errors import DataError
from spin.io import read_jsonl

RESAMPLES = 10_000
SEED = 0
MIN_PAIRED = 30
TIE = 1e-6  # points: |difference| below this is floating-point noise between runs, not a change
_CHUNK = 500  # resamples drawn at once: bounds memory at _CHUNK x n indices
SIGNIFICANCE_RULE = (
    f"a difference is called significant only when at least {MIN_PAIRED} documents are paired "
    "(the same documents on both sides, matched by content), the per-document differences are "
    f"not all equal (|d| < {TIE:g} points counts as 0, floating-point noise), and the "
    "95% percentile-bootstrap CI of the mean difference excludes 0"
)
COLUMNS = [
    "task",
    "n_new",
    "n_base",
    "n_paired",
    "same_data",
    "diff",
    "ci_low",
    "ci_high",
    "significant",
    "verdict",
]


def samples_path(result: dict) -> Path | None:
    """The results file's samples file, resolved, or None when it names none or it is absent."""
    return _resolve(result, (result.get("provenance") or {}).get("samples_file"))


def _resolve(result: dict, name) -> Path | None:
    if not name:
        return None
    path = Path(name)
    if not path.is_absolute():
        path = Path(result["_path"]).parent / path
    return path if path.exists() else None


def read_samples(path: str | Path) -> pd.DataFrame:
    """Per-document scores (task, doc_id, score, doc_key and the optional fields), checked:
    malformed records name file, line and field."""
    records = read_jsonl(path, required=("task", "doc_id", "score"))
    df = pd.DataFrame.from_records(records)
    for col in ("subtask", "filter", "turn", "doc_hash", "doc_key"):
        if col not in df.columns:
            df[col] = None
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
    df["doc_key"] = df["doc_key"].where(df["doc_key"].notna(), df["doc_hash"])
    return df


def _lm_eval_hashes(path: Path) -> dict[tuple[str, str, str], str]:
    """(subtask, doc index, filter) -> doc_hash from `spin eval`'s copy of lm-eval's samples."""
    out = {}
    for r in read_jsonl(path, required=("task", "doc_id")):
        if r.get("doc_hash"):
            out[(str(r["task"]), str(r["doc_id"]), str(r.get("filter", "none")))] = r["doc_hash"]
    return out


def samples_of(result: dict) -> pd.DataFrame | None:
    """A results object's per-document scores with content keys, or None without samples."""
    if result.get("_samples") is not None:  # imported files carry theirs in memory
        df = pd.DataFrame.from_records(result["_samples"])
        return df.assign(doc_id=df["doc_id"].astype(str), score=df["score"].astype(float))
    path = samples_path(result)
    if path is None:
        return None
    df = read_samples(path)
    missing = df["doc_key"].isna()
    if not missing.any():
        return df
    if result.get("suite") == "mt-bench":
        from spin.report.judgment_files import doc_key

        def key(r) -> str:
            q, _, t = str(r["doc_id"]).partition("-")
            return doc_key(q, t or r["turn"])

        df.loc[missing, "doc_key"] = df[missing].apply(key, axis=1)
        return df
    lm = _resolve(result, (result.get("provenance") or {}).get("lm_eval_samples_file"))
    if lm is not None:
        hashes = _lm_eval_hashes(lm)
        index = df["doc_id"].str.rsplit("/", n=1).str[-1]
        sub = df["subtask"].where(df["subtask"].notna(), df["task"]).astype(str)
        filt = df["filter"].where(df["filter"].notna(), "none").astype(str)
        found = [hashes.get(k) for k in zip(sub, index, filt, strict=True)]
        df["doc_key"] = df["doc_key"].where(df["doc_key"].notna(), pd.Series(found, index=df.index))
    return df


def _keyed(scores: pd.DataFrame) -> pd.Series:
    """Scores indexed by content key; repeated documents numbered in doc_id order."""
    s = scores.sort_values("doc_id", kind="stable")
    nth = s.groupby("doc_key").cumcount() + 1
    return pd.Series(s["score"].to_numpy(), index=s["doc_key"].astype(str) + "#" + nth.astype(str))


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


def significance(diff: np.ndarray, lo: float, hi: float) -> tuple[bool, str]:
    """SIGNIFICANCE_RULE applied to paired differences (noise already zeroed) and their CI."""
    n = diff.size
    if n < MIN_PAIRED:
        return False, f"no claim: n_paired {n} < {MIN_PAIRED}"
    if not diff.any():
        return False, "no claim: every difference is 0"
    if np.all(diff == diff[0]):
        return False, "no claim: every difference is equal (degenerate bootstrap)"
    if lo > 0 or hi < 0:
        return True, "CI excludes 0"
    return False, "CI includes 0"


def _row(task: str, a: pd.Series | None, b: pd.Series | None, **kw) -> dict:
    return {
        "task": task,
        "n_new": None if a is None else int(a.size),
        "n_base": None if b is None else int(b.size),
        "n_paired": 0,
        "same_data": None,
        "diff": np.nan,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "significant": False,
        **kw,
    }


def compare_samples(
    new: pd.DataFrame,
    base: pd.DataFrame,
    *,
    scale_to_percent: bool = True,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> pd.DataFrame:
    """Per task both scored: n on each side, whether they are the same documents, and when
    they are, the mean difference new − base, its 95% CI and the verdict of SIGNIFICANCE_RULE."""
    rows = []
    for task in sorted(set(new["task"]) & set(base["task"])):
        ta, tb = new[new["task"] == task], base[base["task"] == task]
        if ta["doc_key"].isna().any() or tb["doc_key"].isna().any():
            side = "new" if ta["doc_key"].isna().any() else "base"
            rows.append(
                _row(
                    task,
                    ta["score"],
                    tb["score"],
                    verdict=f"not paired: the {side} samples carry no document content hashes",
                )
            )
            continue
        a, b = _keyed(ta), _keyed(tb)
        if set(a.index) != set(b.index):
            shared = len(a.index.intersection(b.index))
            rows.append(
                _row(
                    task,
                    a,
                    b,
                    same_data=False,
                    verdict=f"not paired: different data ({a.size} vs {b.size} documents, "
                    f"{shared} shared)",
                )
            )
            continue
        scale = (
            100.0 if scale_to_percent and a.between(0, 1).all() and b.between(0, 1).all() else 1.0
        )
        diff = (a.sort_index().to_numpy() - b.sort_index().to_numpy()) * scale
        diff[np.abs(diff) < TIE] = 0.0
        mean, lo, hi = paired_ci(diff, resamples=resamples, seed=seed)
        sig, verdict = significance(diff, lo, hi)
        rows.append(
            _row(
                task,
                a,
                b,
                n_paired=int(diff.size),
                same_data=True,
                diff=round(mean, 4),
                ci_low=round(lo, 4),
                ci_high=round(hi, 4),
                significant=sig,
                verdict=verdict,
            )
        )
    return pd.DataFrame(rows, columns=COLUMNS)
