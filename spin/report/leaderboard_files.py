"""Open LLM Leaderboard v1 results files (the open-llm-leaderboard/results repository's
``results_<date>.json``) as spin-results/1, suite openllm-v1.

Those files hold lm-eval-0.4.0-era task results keyed ``harness|<task>|<shots>`` with the
metric names of the leaderboard's harness (b281b09, later lighteval), a ``config_general``
(older files: ``config``) with model_name and model_sha, ``versions``, and, from lighteval
on, ``summary_tasks`` with per-task example hashes and counts. Mapping, as the leaderboard
itself displayed them:

====================================  ===============  =======================================
leaderboard key                       benchmark        metric
====================================  ===============  =======================================
``harness|arc:challenge|25``          arc_challenge    acc_norm
``harness|hellaswag|10``              hellaswag        acc_norm
``harness|truthfulqa:mc|0``           truthfulqa_mc2   mc2
``harness|hendrycksTest-<s>|5`` (57)  mmlu             acc, plain mean of the 57 subjects
``harness|winogrande|5``              winogrande       acc
``harness|gsm8k|5``                   gsm8k            acc (the ``#### `` regex: strict-match)
====================================  ===============  =======================================

Other keys (drop, ``all``) have no benchmark in the suite and are listed in
``provenance.ignored_tasks``. n is ``truncated + non_truncated`` from ``summary_tasks`` when the
file has it (else unknown), and ``data_sha256`` is lighteval's ``hash_examples`` (a hash over
the examples, not comparable with lm-eval's document hashes, so it is prefixed).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from spin.errors import DataError
from spin.report.conversion import imported_model

SINGLE = {
    "arc:challenge": ("arc_challenge", "acc_norm", "acc_norm"),
    "hellaswag": ("hellaswag", "acc_norm", "acc_norm"),
    "truthfulqa:mc": ("truthfulqa_mc2", "mc2", "mc2"),
    "winogrande": ("winogrande", "acc", "acc"),
    "gsm8k": ("gsm8k", "acc", "acc"),
}
MMLU_PREFIX = "hendrycksTest-"
MMLU_SUBJECTS = 57
_KEY = re.compile(r"^harness\|(?P<task>[^|]+)\|(?P<shots>\d+)$")


def _num(x) -> float | None:
    if isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x):
        return float(x)
    return None


def _summary(obj: dict, key: str) -> tuple[int | None, str | None, dict | None]:
    s = (obj.get("summary_tasks") or {}).get(key) or {}
    n = None
    if isinstance(s.get("non_truncated"), int):
        n = s["non_truncated"] + int(s.get("truncated") or 0)
    hashes = s.get("hashes") if isinstance(s.get("hashes"), dict) else None
    ex = hashes.get("hash_examples") if hashes else None
    return n, (f"lighteval-hash_examples:{ex}" if ex else None), hashes


def convert(path: Path, obj: dict) -> dict:
    """A spin-results/1 object from one leaderboard results file."""
    from spin.eval import results as schema

    cfg = obj.get("config_general") if isinstance(obj.get("config_general"), dict) else None
    cfg = cfg or obj.get("config") or {}
    name = cfg.get("model_name") or cfg.get("model_args")
    if not isinstance(name, str) or not name:
        raise DataError(path, "missing model_name", field="config_general.model_name")
    tasks, ignored, hashes, shots_of = {}, [], {}, {}
    mmlu: list[tuple[str, float, float | None, int | None]] = []
    for key, res in obj["results"].items():
        m = _KEY.match(key)
        if not m or not isinstance(res, dict):
            ignored.append(key)
            continue
        task, shots = m.group("task"), int(m.group("shots"))
        n, digest, h = _summary(obj, key)
        if h:
            hashes[key] = h
        shots_of[key] = shots
        if task.startswith(MMLU_PREFIX):
            v = _num(res.get("acc"))
            if v is None:
                raise DataError(path, "not a number", field=f"results.{key}.acc")
            mmlu.append((key, v, _num(res.get("acc_stderr")), n))
            continue
        if task not in SINGLE:
            ignored.append(key)
            continue
        bench, metric, label = SINGLE[task]
        v = _num(res.get(metric))
        if v is None:
            raise DataError(
                path, f"not a number: {res.get(metric)!r}", field=f"results.{key}.{metric}"
            )
        se = _num(res.get(f"{metric}_stderr"))
        tasks[bench] = {
            "metric": label,
            "value": round(100 * v, 4),
            "stderr": None if se is None else round(100 * se, 4),
            "n": n,
            "shots": shots,
            "source_key": key,
            **({"data_sha256": digest} if digest else {}),
        }
    if len(mmlu) == MMLU_SUBJECTS:
        value, se = schema.mean_se([v for _, v, _, _ in mmlu], [s for _, _, s, _ in mmlu])
        ns = [n for *_, n in mmlu]
        tasks["mmlu"] = {
            "metric": "acc",
            "value": round(100 * value, 4),
            "stderr": None if se is None else round(100 * se, 4),
            "n": sum(ns) if all(n is not None for n in ns) else None,
            "shots": sorted({shots_of[k] for k, *_ in mmlu})[0],
            "aggregate": "mean",
            "source_key": f"harness|{MMLU_PREFIX}*|5 (57 subjects)",
            "note": "the leaderboard's MMLU: the plain mean of the 57 subjects (harness b281b09)",
        }
    elif mmlu:
        ignored += [k for k, *_ in mmlu]  # a partial MMLU is no MMLU number
    if not tasks:
        raise DataError(
            path, f"no task of openllm-v1 among {sorted(obj['results'])[:6]}", field="results"
        )
    complete = set(tasks) == {
        "arc_challenge",
        "hellaswag",
        "truthfulqa_mc2",
        "mmlu",
        "winogrande",
        "gsm8k",
    }
    avg, avg_se = schema.average(tasks) if complete else (None, None)
    prov = {
        "harness": "Open LLM Leaderboard v1 ("
        + (f"lighteval {cfg['lighteval_sha']}" if cfg.get("lighteval_sha") else "lm-eval b281b09")
        + ")",
        "format": "Open LLM Leaderboard v1 results",
        "imported_from": str(path),
        "model_sha": cfg.get("model_sha"),
        "model_dtype": cfg.get("model_dtype"),
        "date": cfg.get("start_time") or cfg.get("end_time"),
        "max_samples": cfg.get("max_samples"),
        "task_versions": obj.get("versions"),
        "n_shot": shots_of,
        "task_hashes": hashes or None,
        "ignored_tasks": ignored or None,
        "samples_file": None,
        "seed": None,
    }
    return {
        "schema": schema.SCHEMA,
        "model": imported_model(name, path=name, revision=cfg.get("model_sha")),
        "suite": "openllm-v1",
        "tasks": tasks,
        "average": avg,
        "average_stderr": avg_se,
        "provenance": prov,
    }
