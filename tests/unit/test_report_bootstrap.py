"""Paired bootstrap CIs over per-sample logs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from spin.errors import DataError
from spin.report import bootstrap


def test_ci_is_seeded_and_brackets_the_mean():
    rng = np.random.default_rng(1)
    diff = rng.normal(0.3, 1.0, size=400)
    a = bootstrap.paired_ci(diff, resamples=2000, seed=7)
    assert a == bootstrap.paired_ci(diff, resamples=2000, seed=7)
    assert a != bootstrap.paired_ci(diff, resamples=2000, seed=8)
    mean, lo, hi = a
    assert lo < mean < hi
    # the percentile CI of a mean is close to the normal one: mean ± 1.96 sd/sqrt(n)
    half = 1.96 * diff.std(ddof=1) / np.sqrt(diff.size)
    assert abs((hi - lo) / 2 - half) < 0.2 * half


def _samples(scores: dict[str, list[float]]) -> pd.DataFrame:
    rows = [
        {"task": t, "doc_id": str(i), "score": s}
        for t, ss in scores.items()
        for i, s in enumerate(ss)
    ]
    return pd.DataFrame(rows)


def test_paired_difference_significance_and_pairing():
    base = _samples({"a": [0, 1] * 100, "b": [0, 1] * 100})
    new = _samples({"a": [1, 1] * 100, "b": [0, 1] * 100 + [1]})  # b: one unpaired extra doc
    out = bootstrap.compare_samples(new, base, resamples=1000).set_index("task")
    assert out.loc["a", "diff"] == 50.0 and out.loc["a", "significant"]  # percentage points
    assert out.loc["b", "diff"] == 0.0 and not out.loc["b", "significant"]
    assert out.loc["b", "n_paired"] == 200 and out.loc["b", "unpaired_new"] == 1


def test_samples_file_errors_name_line_and_field(tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text(
        json.dumps({"task": "a", "doc_id": 0, "score": 1})
        + "\n"
        + json.dumps({"task": "a", "doc_id": 1})
        + "\n"
    )
    with pytest.raises(DataError, match=r"s\.jsonl:2 field 'score'"):
        bootstrap.read_samples(p)
    p.write_text(json.dumps({"task": "a", "doc_id": 0, "score": "x"}) + "\n")
    with pytest.raises(DataError, match="field 'score'"):
        bootstrap.read_samples(p)
