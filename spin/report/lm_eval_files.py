"""Stock lm-eval 0.4 output (``results_<date>.json`` and ``samples_<task>_<date>.jsonl``) as
spin-results/1.

lm-eval names tasks and metrics its own way; the suites in ``eval/suites/*.yaml`` say which
lm-eval subtasks, metric and filter make each of the papers' numbers (e.g. gsm8k is
``exact_match`` under ``strict-match``; mmlu comes from the 57 ``mmlu_<subject>`` results,
averaged as the suite says, with the other mean beside it). The file is scored with exactly
those definitions (spin.eval.results.tasks_from_lm_eval), so a stock run and ``spin eval``
give the same number for the same per-task results. The suite is the one whose tasks the file
covers most (ties: the caller's preference, then openllm-v1, spin-bbh, tspin-10).

Shots are what lm-eval ran (``n-shot``), not the suite's: a 0-shot ARC stays 0-shot, and
``provenance.shots_differ`` lists every task run with other shots than the paper's.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from spin.errors import DataError
from spin.report.conversion import content_digest, imported_model

SUITE_ORDER = ("openllm-v1", "spin-bbh", "tspin-10")
_DATE = re.compile(r"_(\d{4}-\d{2}-\d{2}T[0-9.\-]+)$")


def samples_files(results_path: Path) -> dict[str, Path]:
    """lm-eval's per-task samples of a results file, by task name.

    lm-eval writes ``<dir>/results_<date>.json`` (or ``<stem>_<date>.json`` when
    --output_path ends in .json) and ``samples_<task>_<date>.jsonl`` in the same folder,
    with the same date id.
    """
    m = _DATE.search(results_path.stem)
    if not m:
        return {}
    date = m.group(1)
    out = {}
    for p in sorted(results_path.parent.glob(f"samples_*_{date}.jsonl")):
        out[p.name[len("samples_") : -len(f"_{date}.jsonl")]] = p
    return out


def _model_args(raw: dict) -> dict:
    args = (raw.get("config") or {}).get("model_args")
    if isinstance(args, dict):
        return args
    out = {}
    for part in str(args or "").split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def _refs(spec) -> list:
    return [spec.primary, *spec.mean_of]


def _fits(suite, raw: dict) -> dict[str, Any]:
    """The suite's tasks this file holds (all subtasks, their metrics and sample counts),
    each with the `also` metrics it has."""
    res, ns = raw.get("results", {}), raw.get("n-samples", {})
    out = {}
    for spec in suite.tasks.values():
        if all(
            sub in res and sub in ns and all(r.key in res[sub] for r in _refs(spec))
            for sub in spec.subtasks
        ):
            also = tuple(a for a in spec.also if all(a.key in res[s] for s in spec.subtasks))
            out[spec.name] = replace(spec, also=also)
    return out


def choose_suite(raw: dict, path: Path, prefer: tuple[str, ...] = ()):
    """The suite this file covers most, with only the tasks it holds."""
    from spin.eval.suites import load_suite

    order = [s for s in prefer if s in SUITE_ORDER] + [s for s in SUITE_ORDER if s not in prefer]
    best, best_tasks = None, {}
    for name in order:
        suite = load_suite(name)
        tasks = _fits(suite, raw)
        if len(tasks) > len(best_tasks):
            best, best_tasks = suite, tasks
    if best is None:
        have = sorted(raw.get("results", {}))[:8]
        raise DataError(
            path,
            f"lm-eval results for {have}: none is a benchmark of the suites "
            f"{', '.join(SUITE_ORDER)} (their lm-eval tasks and metrics: eval/suites/*.yaml)",
            field="results",
        )
    return replace(best, tasks=best_tasks), best


def _samples(spec, sub_files: dict[str, Path]) -> tuple[list[dict], str | None]:
    """Per-document scores of one task from lm-eval's samples and the digest of its documents
    (None when a subtask's samples are missing)."""
    from spin.io import read_jsonl

    rows: list[dict] = []
    for sub in spec.subtasks:
        if sub not in sub_files:
            return [], None
        path = sub_files[sub]
        for i, s in enumerate(read_jsonl(path, required=("doc_id", "doc_hash")), start=1):
            if s.get("filter", "none") != spec.primary.filter:
                continue
            score = s.get(spec.primary.metric)
            if not isinstance(score, int | float) or isinstance(score, bool):
                raise DataError(
                    path, f"no numeric '{spec.primary.metric}'", line=i, field=spec.primary.metric
                )
            rows.append(
                {
                    "task": spec.name,
                    "doc_id": f"{sub}/{s['doc_id']}",
                    "doc_key": s["doc_hash"],
                    "score": float(score),
                    "subtask": sub,
                }
            )
    return rows, content_digest([r["doc_key"] for r in rows])


def convert(path: Path, raw: dict, *, suites: tuple[str, ...] = ()) -> dict:
    """A spin-results/1 object (with ``_samples`` when lm-eval's samples are beside it)."""
    from spin.eval import results as schema

    suite, full = choose_suite(raw, path, suites)
    tasks = schema.tasks_from_lm_eval(suite, raw)
    files = samples_files(path)
    samples: list[dict] = []
    shots_differ = {}
    n_shot = raw.get("n-shot", {})
    for spec in suite.tasks.values():
        entry = tasks[spec.name]
        ran = sorted({n_shot.get(sub) for sub in spec.subtasks}, key=str)
        entry["shots"] = ran[0] if len(ran) == 1 else ran
        if ran != [spec.shots]:
            shots_differ[spec.name] = {"ran": entry["shots"], "paper": spec.shots}
        rows, digest = _samples(spec, files)
        if digest is not None:
            entry["data_sha256"] = digest
            samples += rows
    complete = set(suite.tasks) == set(full.tasks)
    avg, avg_se = schema.average(tasks) if complete else (None, None)
    cfg = raw.get("config") or {}
    margs = _model_args(raw)
    name = raw.get("model_name") or margs.get("pretrained") or cfg.get("model") or path.stem
    subtasks = suite.subtasks()
    prov = {
        "harness": f"lm-eval {raw.get('lm_eval_version') or '(version not recorded)'}",
        "format": "lm-eval results",
        "imported_from": str(path),
        "git_commit": raw.get("git_hash"),
        "date": raw.get("date"),
        "model_source": raw.get("model_source") or cfg.get("model"),
        "model_args": margs,
        "batch_size": cfg.get("batch_size"),
        "limit": cfg.get("limit"),
        "seed": cfg.get("random_seed"),
        "random_seeds": {
            k: cfg.get(k)
            for k in ("random_seed", "numpy_seed", "torch_seed", "fewshot_seed")
            if k in cfg
        },
        "task_versions": {t: raw.get("versions", {}).get(t) for t in subtasks},
        "n_shot": {t: n_shot.get(t) for t in subtasks},
        "n_samples": {t: raw.get("n-samples", {}).get(t) for t in subtasks},
        "task_hashes": {t: (raw.get("task_hashes") or {}).get(t) for t in subtasks},
        "chat_template": raw.get("chat_template"),
        "transformers_version": raw.get("transformers_version"),
        "samples_files": {t: str(files[t]) for t in subtasks if t in files},
        "samples_file": None,
        "shots_differ": shots_differ or None,
        "tasks_selected": list(suite.tasks) if not complete else None,
        "ignored_tasks": sorted(set(raw.get("results", {})) - set(subtasks)) or None,
    }
    out = {
        "schema": schema.SCHEMA,
        "model": imported_model(str(name), path=str(margs.get("pretrained") or name)),
        "suite": full.name,
        "tasks": tasks,
        "average": avg,
        "average_stderr": avg_se,
        "provenance": prov,
        "_samples": samples if samples else None,
    }
    return out
