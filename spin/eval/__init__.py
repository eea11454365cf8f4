"""Evaluation: lm-eval suites and MT-Bench, written in one results schema (spin-results/1).

The harnesses are wrapped, not forked: lm-eval's own task definitions run through a
generated group YAML (spin.eval.harness), and MT-Bench is judged by fschat's own
gen_judgment in its own virtual environment (spin.eval.judge). Heavy imports stay inside
functions so `import spin.eval` is cheap.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

__all__ = ["evaluate"]


def evaluate(
    suite: str,
    model_path: str,
    output_dir: str | Path,
    *,
    model_info: dict,
    backend: str = "hf",
    data_dir: str | Path | None = None,
    limit: int | None = None,
    batch_size: int | str | None = None,
    seed: int | None = None,
    tasks: list[str] | None = None,
    dtype: str | None = None,
    data_parallel_size: int = 1,
    tensor_parallel_size: int = 1,
    gpu_memory_utilization: float | None = None,
    judge: Any = None,
    mtbench_data: str | Path | None = None,
    max_new_tokens: int | None = None,
    yes: bool = False,
    mtbench_prompt: str = "fastchat",
    fastchat_model_id: str | None = None,
) -> Path:
    """Evaluate one model on one suite; returns the path of the results JSON.

    Writes, in output_dir: SUITE.json (the results), SUITE.samples.jsonl (per-document
    scores: task, doc_id, score) and the harness's own outputs (SUITE.lm_eval.json and
    SUITE.lm_eval_samples.jsonl, or MT-Bench's answers and judgments).

    suite: openllm-v1 | tspin-10 | spin-bbh | tiny | mt-bench.
    model_info: the schema's model block {"name", "method", "iteration", "base_model", "path"}.
    data_dir: run from a local copy of the data (see eval/README.md for the layout).
    seed: None for lm-eval's default seeds (0 random, 1234 numpy and torch; MT-Bench: 0);
        N seeds them all N. The few-shot seed is always lm-eval's 1234.
    tasks: only these tasks of the suite (its benchmark names); the average is then None.
    judge: a spin.eval.judge.JudgeConfig for mt-bench (default: GPT-4 at OpenAI).
    mtbench_prompt: "fastchat" (FastChat's conversation template for `fastchat_model_id`,
        default the model's name, as gen_model_answer) or "hf-chat-template".
    """
    from spin.eval.results import check_model_info
    from spin.eval.suites import MT_BENCH

    model = check_model_info({**model_info, "path": model_info.get("path") or str(model_path)})
    if suite == MT_BENCH:
        from spin.eval.mtbench import evaluate_mtbench

        if tasks:
            from spin.errors import SpinError

            raise SpinError("--tasks selects lm-eval tasks; mt-bench has none to select")
        return evaluate_mtbench(
            model_path,
            output_dir,
            model_info=model,
            backend=backend,
            limit=limit,
            seed=0 if seed is None else seed,
            judge=judge,
            mtbench_data=mtbench_data,
            max_new_tokens=max_new_tokens,
            yes=yes,
            batch_size=batch_size,
            dtype=dtype,
            prompt=mtbench_prompt,
            fastchat_model_id=fastchat_model_id,
        )
    return _evaluate_lm_eval(
        suite,
        model_path,
        output_dir,
        model=model,
        backend=backend,
        data_dir=data_dir,
        limit=limit,
        batch_size=batch_size,
        seed=seed,
        tasks=tasks,
        dtype=dtype,
        data_parallel_size=data_parallel_size,
        tensor_parallel_size=tensor_parallel_size,
        gpu_memory_utilization=gpu_memory_utilization,
    )


def _evaluate_lm_eval(
    suite_name: str,
    model_path: str,
    output_dir: str | Path,
    *,
    model: dict,
    data_dir,
    limit,
    seed,
    tasks,
    **run_kwargs,
) -> Path:
    import sys

    from spin.errors import SpinError
    from spin.eval import data, harness, results
    from spin.eval.suites import load_suite, missing_requirements
    from spin.io import write_json, write_jsonl

    full = load_suite(suite_name)
    suite = full.select(tasks)
    missing = missing_requirements(suite)
    if missing:
        detail = "; ".join(f"{t}: {', '.join(m)}" for t, m in missing.items())
        raise SpinError(
            f"suite {suite_name} needs modules that are not installed ({detail}); "
            "install lm-eval[ifeval,math]==0.4.13"
        )
    if not Path(model_path).exists() and model_path.count("/") != 1:
        raise SpinError(f"model path not found: {model_path}")
    sources = data.sources(suite, data_dir)  # fails early, naming the missing local file
    warning = data.manifest_warning(suite, data_dir)
    if warning:
        print(f"spin eval: warning: {warning}", file=sys.stderr)
    settings = harness.RunSettings(
        limit=limit, seed=seed, add_bos_token=suite.add_bos_token, **run_kwargs
    )
    with data.nltk_resources(suite, data_dir) as nltk_found:
        start = time.time()
        raw = harness.run(suite, model_path, settings, data_dir)
        duration = time.time() - start

    output_dir = Path(output_dir)
    scored = results.tasks_from_lm_eval(suite, raw)
    # A subset's mean is no paper's number: leave the average out rather than mislabel it.
    avg, avg_se = results.average(scored) if suite.tasks == full.tasks else (None, None)
    samples = results.samples_from_lm_eval(suite, raw)
    lm_samples = [{"task": sub, **s} for sub, rows in raw.get("samples", {}).items() for s in rows]
    write_jsonl(output_dir / f"{suite_name}.lm_eval_samples.jsonl", _jsonable(lm_samples))
    write_json(
        output_dir / f"{suite_name}.lm_eval.json",
        _jsonable({k: v for k, v in raw.items() if k != "samples"}),
    )

    import lm_eval

    seeds = settings.seeds()
    prov = results.base_provenance(
        f"lm-eval {lm_eval.__version__}",
        seed=seeds["random_seed"],
        duration_s=duration,
        samples_file=f"{suite_name}.samples.jsonl",
    )
    subtasks = suite.subtasks()
    prov.update(
        {
            "backend": settings.backend,
            "batch_size": settings.batch_size,
            "batch_sizes": raw.get("config", {}).get("batch_sizes"),
            "dtype": settings.dtype,
            "device": settings.device if settings.backend == "hf" else None,
            "model_args": harness.model_args(model_path, settings),
            "limit": limit,
            "apply_chat_template": suite.apply_chat_template,
            "task_versions": {t: raw.get("versions", {}).get(t) for t in subtasks},
            "n_shot": {t: raw.get("n-shot", {}).get(t) for t in subtasks},
            "fewshot_seed": settings.fewshot_seed,
            "random_seeds": {
                k: raw.get("config", {}).get(k, v) for k, v in seeds.items() if k != "fewshot_seed"
            },
            "add_bos_token": suite.add_bos_token,
            "stop_sequences": results.stop_sequences(raw, subtasks),
            "tasks_selected": list(suite.tasks) if suite.tasks != full.tasks else None,
            "data": {
                "data_dir": str(Path(data_dir).resolve()) if data_dir else None,
                "sources": sources,
                **({"warning": warning} if warning else {}),
                **({"nltk_data": nltk_found} if nltk_found else {}),
            },
            "lm_eval_results_file": f"{suite_name}.lm_eval.json",
            "lm_eval_samples_file": f"{suite_name}.lm_eval_samples.jsonl",
            "paper": suite.paper,
        }
    )
    out = {
        "schema": results.SCHEMA,
        "model": model,
        "suite": suite_name,
        "tasks": scored,
        "average": avg,
        "average_stderr": avg_se,
        "provenance": prov,
    }
    return results.write(output_dir, suite_name, out, samples)


def _jsonable(obj: Any) -> Any:
    """lm-eval's outputs hold numpy scalars and callables: round-trip them through str."""
    return json.loads(json.dumps(obj, default=str))
