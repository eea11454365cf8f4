"""Paired bootstrap CIs over per-sample logs: pairing by document content, the significance
rule, and which documents count as the same data."""

from __future__ import annotations

import json
import math

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


def _samples(scores: dict[str, list[float]], *, docs: str = "doc", order=None) -> pd.DataFrame:
    """Per-document scores; doc_key is the document's content hash, doc_id its position
    (`order` permutes the positions, as another harness or shuffled file would)."""
    rows = []
    for t, ss in scores.items():
        ids = list(order(len(ss))) if order else list(range(len(ss)))
        for i, s in enumerate(ss):
            rows.append(
                {"task": t, "doc_id": str(ids[i]), "doc_key": f"{docs}-{t}-{i}", "score": s}
            )
    return pd.DataFrame(rows)


def test_paired_difference_significance_and_pairing():
    base = _samples({"a": [0, 1] * 100, "b": [0, 1] * 100})
    new = _samples({"a": [1, 1] * 100, "b": [0, 1] * 100})
    out = bootstrap.compare_samples(new, base, resamples=1000).set_index("task")
    assert out.loc["a", "diff"] == 50.0 and out.loc["a", "significant"]  # percentage points
    assert out.loc["a", "verdict"] == "CI excludes 0" and out.loc["a", "n_paired"] == 200
    assert out.loc["b", "diff"] == 0.0 and not out.loc["b", "significant"]
    assert out.loc["b", "verdict"] == "no claim: every difference is 0"


def test_same_documents_pair_by_content_whatever_their_doc_id():
    rng = np.random.default_rng(3)
    base_scores = (rng.random(60) < 0.5).astype(float)
    new_scores = base_scores.copy()
    new_scores[:20] = 1.0  # documents 0..19 (by content) improved
    base = _samples({"t": list(base_scores)})
    # the same documents, listed in reverse with other doc_ids
    new = _samples({"t": list(new_scores)}, order=lambda n: range(1000 + n, 1000, -1))
    new = new.iloc[::-1].reset_index(drop=True)
    row = bootstrap.compare_samples(new, base, resamples=500).iloc[0]
    # by hand, document by document: the CI of these very differences (in content-key order,
    # the order the bootstrap draws from, so the seeded resamples are the same)
    keyed = sorted(range(60), key=lambda i: f"doc-t-{i}#1")
    d = 100 * (new_scores - base_scores)[keyed]
    mean, lo, hi = bootstrap.paired_ci(d, resamples=500)
    assert row["same_data"] and row["n_paired"] == 60
    assert (row["diff"], row["ci_low"], row["ci_high"]) == pytest.approx((mean, lo, hi), abs=1e-4)
    # pairing by doc_id would have matched document i with document 59 - i: another CI
    wrong = 100 * (new_scores[::-1] - base_scores)[keyed]
    _, lo_pos, hi_pos = bootstrap.paired_ci(wrong, resamples=500)
    assert not math.isclose(hi - lo, hi_pos - lo_pos)


def test_different_datasets_never_pair():
    base = _samples({"arc_challenge": [1.0, 0.0] * 150}, docs="full")  # a 300-item ARC
    new = _samples({"arc_challenge": [1.0, 1.0, 0.0]}, docs="full")  # 3 of them
    row = bootstrap.compare_samples(new, base).iloc[0]
    assert not row["same_data"] and row["n_paired"] == 0 and math.isnan(row["diff"])
    assert row["verdict"] == "not paired: different data (3 vs 300 documents, 3 shared)"
    assert (row["n_new"], row["n_base"], row["significant"]) == (3, 300, False)
    other = _samples({"arc_challenge": [1.0, 0.0] * 150}, docs="other")  # same n, other docs
    row = bootstrap.compare_samples(other, base).iloc[0]
    assert not row["same_data"] and "0 shared" in row["verdict"]
    no_keys = base.assign(doc_key=None)
    row = bootstrap.compare_samples(no_keys, base).iloc[0]
    assert row["n_paired"] == 0 and "no document content hashes" in row["verdict"]


def test_no_significance_from_three_documents_and_float_noise():
    # n=3 truthfulqa_mc2 differing by 1e-7 per item: the old code starred this
    base = _samples({"truthfulqa_mc2": [0.41, 0.52, 0.63]})
    new = base.assign(score=base["score"] + 1e-7)
    row = bootstrap.compare_samples(new, base).iloc[0]
    assert not row["significant"] and row["verdict"] == "no claim: n_paired 3 < 30"
    # 1e-7 of a [0,1] score is 1e-5 points: above the noise threshold, so n decides here;
    # with n >= 30 the float noise itself (below 1e-6 points) counts as no difference
    big = _samples({"t": [0.25] * 40})
    noise = big.assign(score=big["score"] + 1e-9)
    row = bootstrap.compare_samples(noise, big).iloc[0]
    assert not row["significant"] and row["diff"] == 0.0
    assert row["verdict"] == "no claim: every difference is 0"
    shifted = big.assign(score=big["score"] + 0.1)  # every difference equal: degenerate
    row = bootstrap.compare_samples(shifted, big).iloc[0]
    assert not row["significant"] and "degenerate" in row["verdict"]


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
