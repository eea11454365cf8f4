"""MT-Bench: pinned data, two-turn answers from our generation backends, fschat scoring.

Answers are generated as fschat's gen_model_answer generates them: each turn rendered with
FastChat's conversation template for the model id (spin.eval.fastchat_prompts; an id with
"zephyr" gets FastChat's zephyr template and its empty system turn), tokenised with the
tokenizer's BOS, at fschat's per-category temperatures, cut at the template's stop string, in
fschat's answer format. `prompt="hf-chat-template"` renders with the model's own chat
template instead. Judging is fschat's gen_judgment (spin.eval.judge). Scores follow show_result:
judgments with score -1 (unparsable rating) are dropped, and a value is the plain mean of
the remaining judgments.

Standard error: the two turns of a question are not independent, so the stderr of every
MT-Bench value is clustered by question: sd(q_i) / sqrt(Q), where q_i is question i's mean
score over the judgments the value uses and Q the number of questions (for turn1/turn2 this
is the ordinary sd / sqrt(n)).
"""

from __future__ import annotations

import hashlib
import os
import statistics
import time
import urllib.request
from pathlib import Path

from spin.errors import DataError, SpinError
from spin.eval.judge import JudgeConfig
from spin.eval.mtbench_settings import manifest, model_id_for, temperature  # noqa: F401
from spin.eval.suites import MT_BENCH
from spin.io import atomic_path, read_jsonl, sha256_file, sha256_json


def cache_dir() -> Path:
    root = (
        os.environ.get("SPIN_CACHE_DIR")
        or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "spin"
    )
    return Path(root) / "mt_bench" / str(manifest()["commit"])


def check_data(folder: Path) -> dict[str, str]:
    """Check a FastChat data/ folder against the pinned sha256s; returns them."""
    man = manifest()
    for rel, sha in man["files"].items():
        path = folder / rel
        if not path.is_file():
            raise DataError(path, "missing (expected FastChat's data/ layout)")
        got = sha256_file(path)
        if got != sha:
            raise DataError(path, f"sha256 {got} does not match FastChat {man['commit']} ({sha})")
    return dict(man["files"])


def ensure_data(mtbench_data: str | Path | None) -> Path:
    """A checked FastChat data/ folder: the given local copy, or the cache (downloaded once)."""
    if mtbench_data is not None:
        folder = Path(mtbench_data)
        check_data(folder)
        return folder
    folder, man = cache_dir(), manifest()
    for rel, sha in man["files"].items():
        path = folder / rel
        if path.is_file() and sha256_file(path) == sha:
            continue
        url = man["url_template"].format(commit=man["commit"], path=rel)
        try:
            with urllib.request.urlopen(url, timeout=60) as resp:
                body = resp.read()
        except OSError as e:
            raise SpinError(
                f"cannot download {url} ({e}); pass --mtbench-data DIR (FastChat's data/ folder)"
            ) from None
        if hashlib.sha256(body).hexdigest() != sha:
            raise SpinError(f"{url}: sha256 does not match the pinned {sha}")
        with atomic_path(path) as tmp:
            Path(tmp).write_bytes(body)
    return folder


def load_questions(data: Path, limit: int | None = None) -> list[dict]:
    qs = read_jsonl(
        data / "mt_bench" / "question.jsonl", required=("question_id", "category", "turns")
    )
    return qs[:limit] if limit else qs


def _clustered(judgments: list[dict]) -> tuple[float, float | None, int]:
    """Mean of the judgments, its question-clustered stderr, and the judgment count."""
    scores = [float(j["score"]) for j in judgments]
    by_q: dict[int, list[float]] = {}
    for j in judgments:
        by_q.setdefault(int(j["question_id"]), []).append(float(j["score"]))
    q_means = [sum(v) / len(v) for v in by_q.values()]
    se = statistics.stdev(q_means) / len(q_means) ** 0.5 if len(q_means) > 1 else None
    return sum(scores) / len(scores), se, len(scores)


def score(
    judgments: list[dict], questions: list[dict], judge_model: str
) -> tuple[dict, list[dict]]:
    """The results `tasks` block (turn1, turn2, the eight categories, mt_bench) and the
    per-sample lines, from fschat single-mode judgments, as show_result averages them."""
    cat = {q["question_id"]: q["category"] for q in questions}
    valid = [j for j in judgments if float(j["score"]) != -1]
    if not valid:
        raise SpinError("no MT-Bench judgment has a parsable score (all -1)")
    subsets = {
        "turn1": [j for j in valid if int(j["turn"]) == 1],
        "turn2": [j for j in valid if int(j["turn"]) == 2],
    }
    for c in manifest()["categories"]:
        subsets[c] = [j for j in valid if cat[j["question_id"]] == c]
    subsets["mt_bench"] = valid
    tasks, samples = {}, []
    for name, js in subsets.items():
        if not js:
            continue
        value, se, n = _clustered(js)
        tasks[name] = {
            "metric": f"{judge_model} judge score (1-10)",
            "value": round(value, 4),
            "stderr": None if se is None else round(se, 4),
            "n": n,
            "shots": 0,
        }
        for j in js:
            doc = j["question_id"] if name.startswith("turn") else f"{j['question_id']}-{j['turn']}"
            samples.append(
                {
                    "task": name,
                    "doc_id": doc,
                    "score": float(j["score"]),
                    "turn": int(j["turn"]),
                    "category": cat[j["question_id"]],
                }
            )
    return tasks, samples


def evaluate_mtbench(
    model_path: str | None,
    output_dir: str | Path,
    *,
    model_info: dict,
    backend: str = "hf",
    limit: int | None = None,
    seed: int = 0,
    judge: JudgeConfig | None = None,
    mtbench_data: str | Path | None = None,
    max_new_tokens: int | None = None,
    yes: bool = False,
    batch_size: int | None = None,
    dtype: str | None = None,
    answers_file: str | Path | None = None,
    prompt: str = "fastchat",
    fastchat_model_id: str | None = None,
) -> Path:
    """Generate answers (or take `answers_file`), judge them with fschat, write results.

    prompt: "fastchat" (gen_model_answer's: FastChat's conversation template for
    `fastchat_model_id`, default the answers' model id) or "hf-chat-template"."""
    from spin.eval import judge as judging
    from spin.eval import results
    from spin.eval.mtbench_answers import model_answers

    judge = judge or JudgeConfig()
    start = time.time()
    output_dir = Path(output_dir)
    data = ensure_data(mtbench_data)
    questions = load_questions(data, limit)
    if answers_file is not None:
        answers = read_jsonl(answers_file, required=("question_id", "model_id", "choices"))
        if not answers:
            raise DataError(answers_file, "no answers")
        model_id = model_id_for(answers[0]["model_id"])
        wanted = {a["question_id"] for a in answers}
        questions = [q for q in questions if q["question_id"] in wanted]
        if limit is None and len(questions) != len(wanted):
            raise DataError(answers_file, "has question_ids that are not MT-Bench questions")
        gen = {"answers_from": str(answers_file)}
        answers_path = Path(answers_file)
    else:
        model_id, gen, answers_path, answers = model_answers(
            str(model_path),
            questions,
            output_dir,
            model_info=model_info,
            backend=backend,
            seed=seed,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            dtype=dtype,
            prompt=prompt,
            fastchat_model_id=fastchat_model_id,
            judge_python=judge.python_path(),
        )
    # judgments are keyed by the answers' content, the judge and fschat's prompts and references
    judge_key = sha256_json(
        {
            "model_id": model_id,
            "answers_sha256": sha256_file(answers_path),
            "judge": judge.model,
            "base_url": judge.base_url,
            "data": check_data(data),
        }
    )[:12]
    judgments_file = (
        output_dir / f"{MT_BENCH}.judgments.{model_id_for(judge.model)}.{judge_key}.jsonl"
    )
    judgments = judging.judge(questions, answers, model_id, data, judgments_file, judge, yes=yes)
    tasks, samples = score(judgments, questions, judge.model)
    prov = results.base_provenance(
        "fschat 0.2.36 (llm_judge gen_judgment, single mode)",
        seed=seed,
        duration_s=time.time() - start,
        samples_file=f"{MT_BENCH}.samples.jsonl",
    )
    prov.update(
        {
            "judge": {
                "model": judge.model,
                "base_url": judge.base_url,
                "mode": "single",
                "parse_failures": sum(1 for j in judgments if float(j["score"]) == -1),
            },
            "data": {
                "source": str(data),
                "commit": manifest()["commit"],
                "sha256": check_data(data),
            },
            "generation": gen,
            "answers_file": answers_path.name if answers_file is None else str(answers_file),
            "answers_sha256": sha256_file(answers_path),
            "judgments_file": judgments_file.name,
            "limit": limit,
            "batch_size": batch_size,
            "dtype": dtype,
            "backend": backend if answers_file is None else None,
            "model_id": model_id,
        }
    )
    out = {
        "schema": results.SCHEMA,
        "model": model_info,
        "suite": MT_BENCH,
        "tasks": tasks,
        "average": tasks["mt_bench"]["value"],
        "average_stderr": tasks["mt_bench"]["stderr"],
        "provenance": prov,
    }
    return results.write(output_dir, MT_BENCH, out, samples)
