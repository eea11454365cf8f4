"""The one results schema (DESIGN.md, spin-results/1): turning harness output into it.

Standard errors. Each lm-eval task carries lm-eval's own stderr (the sample standard error of
the per-document scores). Derived numbers combine them assuming independent subtasks:
  plain mean of k values       se = sqrt(sum se_i^2) / k
  size-weighted mean (N = sum n_i)   se = sqrt(sum (n_i se_i)^2) / N
The suite average is a plain mean of its tasks, so it uses the first formula. All values and
stderrs are in percent, except MT-Bench (its 1-10 score).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from spin.eval.suites import MetricRef, Suite, TaskSpec
from spin.io import write_json, write_jsonl

SCHEMA = "spin-results/1"
MODEL_KEYS = ("name", "method", "iteration", "base_model", "path")


def _num(x: Any) -> float | None:
    """lm-eval writes 'N/A' for stderrs it cannot compute (e.g. one document)."""
    if isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x):
        return float(x)
    return None


def mean_se(values: list[float], ses: list[float | None]) -> tuple[float, float | None]:
    """Plain mean and its standard error, sqrt(sum se_i^2) / k (independent parts)."""
    k = len(values)
    se = None if any(s is None for s in ses) else math.sqrt(sum(s * s for s in ses)) / k
    return sum(values) / k, se


def weighted_se(
    values: list[float], ses: list[float | None], ns: list[int]
) -> tuple[float, float | None]:
    """Size-weighted mean and its standard error, sqrt(sum (n_i se_i)^2) / N."""
    total = sum(ns)
    value = sum(n * v for n, v in zip(ns, values, strict=True)) / total
    if any(s is None for s in ses):
        return value, None
    return value, math.sqrt(sum((n * s) ** 2 for n, s in zip(ns, ses, strict=True))) / total


def _metric(raw: dict, sub: str, ref: MetricRef) -> tuple[float, float | None]:
    res = raw["results"].get(sub)
    if res is None or ref.key not in res:
        have = sorted(k for k in (res or {}) if "," in k and "_stderr" not in k)
        raise KeyError(f"lm-eval reported no '{ref.key}' for task '{sub}' (it has: {have})")
    se = _num(res.get(f"{ref.metric}_stderr,{ref.filter}"))
    if se is None:
        se = _ratio_se(
            [
                s[ref.metric]
                for s in raw.get("samples", {}).get(sub, [])
                if s.get("filter", "none") == ref.filter and ref.metric in s
            ]
        )
    return float(res[ref.key]), se


def _ratio_se(per_doc: list) -> float | None:
    """Stderr from the per-document scores, for metrics lm-eval gives none (IFEval's
    instruction-level accuracy, whose custom aggregation has no stderr).

    A document may score a list (one entry per instruction): the value is then the ratio
    sum(k_j) / sum(m_j) over documents j, and its stderr is the ratio estimator's, clustered
    by document: sqrt(sum (k_j - R m_j)^2 / (n (n - 1))) / mean(m_j). With one score per
    document this is the usual sample standard error.
    """
    docs = [[float(x) for x in (d if isinstance(d, list) else [d])] for d in per_doc]
    docs = [d for d in docs if d]
    n = len(docs)
    if n < 2:
        return None
    k = [sum(d) for d in docs]
    m = [len(d) for d in docs]
    ratio = sum(k) / sum(m)
    resid = sum((kj - ratio * mj) ** 2 for kj, mj in zip(k, m, strict=True))
    return math.sqrt(resid / (n * (n - 1))) / (sum(m) / n)


def _combine(
    spec: TaskSpec, raw: dict, ref: MetricRef, aggregate: str | None = None
) -> tuple[float, float | None, int, dict]:
    values, ses, ns, parts = [], [], [], {}
    for sub in spec.subtasks:
        v, se = _metric(raw, sub, ref)
        n = int(raw["n-samples"][sub]["effective"])
        values.append(v)
        ses.append(se)
        ns.append(n)
        parts[sub] = {"value": 100 * v, "stderr": None if se is None else 100 * se, "n": n}
    if (aggregate or spec.aggregate) == "size_weighted":
        value, se = weighted_se(values, ses, ns)
    else:
        value, se = mean_se(values, ses)
    return 100 * value, (None if se is None else 100 * se), sum(ns), parts


def _value(
    spec: TaskSpec, raw: dict, aggregate: str | None = None
) -> tuple[float, float | None, int, dict]:
    """The task's value: its primary metric, or the plain mean of `mean_of`'s metrics.

    The metrics of one mean are scored on the same documents and strongly correlated, so
    its stderr is the mean of theirs: the bound for perfectly correlated parts, where
    sqrt(sum se^2)/k would understate it.
    """
    if not spec.mean_of:
        return _combine(spec, raw, spec.primary, aggregate)
    parts = [_combine(spec, raw, ref, aggregate) for ref in spec.mean_of]
    ses = [p[1] for p in parts]
    se = None if any(s is None for s in ses) else sum(ses) / len(ses)
    return sum(p[0] for p in parts) / len(parts), se, parts[0][2], parts[0][3]


def _rounded(value: float, se: float | None) -> dict:
    return {"value": round(value, 4), "stderr": None if se is None else round(se, 4)}


def tasks_from_lm_eval(suite: Suite, raw: dict) -> dict[str, dict]:
    """The schema's `tasks` block from lm-eval's results dict.

    Tasks of several subtasks carry the other mean beside the value: `unweighted` (the
    plain mean of the subtasks) for size-weighted ones, `weighted` (the size-weighted mean)
    for plain means; the sources differ on which one a paper number is (eval/README.md).
    """
    tasks = {}
    for spec in suite.tasks.values():
        value, se, n, parts = _value(spec, raw)
        entry: dict[str, Any] = {
            "metric": spec.metric_label,
            **_rounded(value, se),
            "n": n,
            "shots": spec.shots,
            "lm_eval_metric": " + ".join(r.metric for r in spec.mean_of) or spec.primary.metric,
            "filter": spec.primary.filter,
        }
        if len(spec.subtasks) > 1:
            entry["aggregate"] = spec.aggregate
            entry["subtasks"] = parts
            # The other mean beside the value: papers differ on which one they report.
            if spec.aggregate == "size_weighted":
                entry["unweighted"] = _rounded(*_value(spec, raw, "mean")[:2])
            else:
                entry["weighted"] = _rounded(*_value(spec, raw, "size_weighted")[:2])
        if spec.note:
            entry["note"] = spec.note
        for ref in spec.also:
            entry.setdefault("also", {})[ref.key] = _rounded(*_combine(spec, raw, ref)[:2])
        tasks[spec.name] = entry
    return tasks


def samples_from_lm_eval(suite: Suite, raw: dict) -> list[dict]:
    """Per-document scores for the paired bootstrap: one line per (task, doc_id).

    doc_id is lm-eval's document index; tasks made of several subtasks prefix it with the
    subtask ('mmlu_anatomy/12'), since each subtask counts its documents from 0.
    """
    out = []
    for spec in suite.tasks.values():
        multi = len(spec.subtasks) > 1
        for sub in spec.subtasks:
            for s in raw.get("samples", {}).get(sub, []):
                if s.get("filter", "none") != spec.primary.filter:
                    continue
                out.append(
                    {
                        "task": spec.name,
                        "doc_id": f"{sub}/{s['doc_id']}" if multi else s["doc_id"],
                        "score": float(s[spec.primary.metric]),
                        "subtask": sub,
                        "metric": spec.primary.metric,
                        "filter": spec.primary.filter,
                        # the document's content hash: spin compare pairs models by it
                        "doc_hash": s.get("doc_hash"),
                    }
                )
    return out


def average(tasks: dict[str, dict]) -> tuple[float, float | None]:
    value, se = mean_se(
        [t["value"] for t in tasks.values()], [t.get("stderr") for t in tasks.values()]
    )
    return round(value, 4), (None if se is None else round(se, 4))


def stop_sequences(raw: dict, subtasks: list[str]) -> dict[str, list[str] | None]:
    """Per subtask, the stop sequences lm-eval generated with (None: not a generation task)."""
    configs = raw.get("configs", {})
    out = {}
    for sub in subtasks:
        gen = configs.get(sub, {}).get("generation_kwargs") or {}
        until = gen.get("until")
        out[sub] = [until] if isinstance(until, str) else until
    return out


def validate_provenance(prov: dict, path: str | Path) -> None:
    """Check the optional provenance keys spin-results/1 defines for lm-eval suites
    (older files without them stay valid): add_bos_token, stop_sequences, the seeds and
    each local data file's sha256."""
    import re

    from spin.errors import DataError

    bos = prov.get("add_bos_token")
    if bos is not None and not isinstance(bos, bool):
        raise DataError(
            path, f"must be true, false or null, got {bos!r}", field="provenance.add_bos_token"
        )
    for sub, until in (prov.get("stop_sequences") or {}).items():
        if until is not None and not (
            isinstance(until, list) and all(isinstance(u, str) for u in until)
        ):
            raise DataError(
                path,
                f"must be a list of strings or null, got {until!r}",
                field=f"provenance.stop_sequences.{sub}",
            )
    for name, seed in (prov.get("random_seeds") or {}).items():
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise DataError(
                path,
                f"must be an integer or null, got {seed!r}",
                field=f"provenance.random_seeds.{name}",
            )
    data = prov.get("data") or {}
    for sub, src in (data.get("sources") or {}).items() if isinstance(data, dict) else ():
        for split, f in (src.get("local") or {}).items() if isinstance(src, dict) else ():
            if isinstance(f, dict) and not re.fullmatch(r"[0-9a-f]{64}", str(f.get("sha256"))):
                raise DataError(
                    path,
                    f"not a sha256: {f.get('sha256')!r}",
                    field=f"provenance.data.sources.{sub}.local.{split}.sha256",
                )


def base_provenance(harness: str, *, seed: int, duration_s: float, samples_file: str) -> dict:
    from spin.provenance import provenance

    return provenance(
        harness=harness, seed=seed, duration_s=round(duration_s, 2), samples_file=samples_file
    )


def check_model_info(model_info: dict) -> dict:
    from spin.errors import SpinError

    missing = [k for k in ("name", "method", "base_model") if not model_info.get(k)]
    if missing:
        raise SpinError(f"model_info needs {', '.join(missing)} (the results schema's model block)")
    return {k: model_info.get(k) for k in MODEL_KEYS} | {
        k: v for k, v in model_info.items() if k not in MODEL_KEYS
    }


def write(output_dir: str | Path, stem: str, results: dict, samples: list[dict]) -> Path:
    """Write samples first, then the results file, each atomically: a results file on disk
    always has its samples file beside it."""
    output_dir = Path(output_dir)
    write_jsonl(output_dir / f"{stem}.samples.jsonl", samples)
    path = output_dir / f"{stem}.json"
    write_json(path, results)
    return path
