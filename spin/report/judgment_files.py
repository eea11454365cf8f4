"""FastChat MT-Bench single-grading judgments as spin-results/1, suite mt-bench; one results
object per judged model. The file is ``data/mt_bench/model_judgment/<judge>_single.jsonl``, as
``gen_judgment --mode single`` writes it.

Scores are averaged as FastChat's ``show_result --mode single`` averages them: judgments with
score -1 (unparsable rating) dropped, then the plain mean per model over all judgments
(``mt_bench``), and over turn 1 and turn 2 (spin.eval.mtbench.score, which ``spin eval
mt-bench`` uses too). Per-category means need each question's category: from
``question.jsonl`` in FastChat's layout (``../question.jsonl`` beside ``model_judgment/``), else
from MT-Bench's fixed id blocks (81-90 writing, 91-100 roleplay, ... 151-160 humanities).

A document is one (question, turn): its pairing key is ``mt-bench/<question_id>/<turn>``,
the same for ``spin eval mt-bench``'s own samples. The data digest is the sha256 of
question.jsonl when it is found (the pinned FastChat file's is in eval/mt_bench_manifest.yaml).
"""

from __future__ import annotations

from pathlib import Path

from spin.errors import DataError
from spin.report.conversion import content_digest, imported_model

FIRST_QUESTION = 81  # MT-Bench's ids run 81..160, ten per category in the manifest's order


def doc_key(question_id, turn) -> str:
    """The content key of one MT-Bench (question, turn)."""
    return f"mt-bench/{int(question_id)}/{int(turn)}"


def _questions(path: Path, judgments: list[dict]) -> tuple[list[dict], str]:
    """Questions with categories, and where the categories came from."""
    from spin.eval.mtbench import manifest
    from spin.io import read_jsonl, sha256_file

    for cand in (path.parent.parent / "question.jsonl", path.parent / "question.jsonl"):
        if cand.exists():
            qs = read_jsonl(cand, required=("question_id", "category"))
            return qs, f"{cand} (sha256 {sha256_file(cand)})"
    cats = manifest()["categories"]
    ids = sorted({int(j["question_id"]) for j in judgments})
    qs = []
    for q in ids:
        k = (q - FIRST_QUESTION) // 10
        if 0 <= k < len(cats):
            qs.append({"question_id": q, "category": cats[k]})
    return (
        qs,
        "MT-Bench id blocks (81-90 writing, ..., 151-160 humanities); no question.jsonl found",
    )


def _check(path: Path, records: list[dict]) -> None:
    for i, j in enumerate(records, start=1):
        for key in ("score", "turn", "question_id"):
            v = j.get(key)
            if not isinstance(v, int | float) or isinstance(v, bool):
                raise DataError(path, f"not a number: {v!r}", line=i, field=key)
        if int(j["turn"]) not in (1, 2):
            raise DataError(path, f"must be 1 or 2, got {j['turn']!r}", line=i, field="turn")
        if not (j["score"] == -1 or 1 <= j["score"] <= 10):
            raise DataError(path, f"must be -1 or 1..10, got {j['score']!r}", line=i, field="score")


def convert(path: Path) -> list[dict]:
    """One spin-results/1 object (with ``_samples``) per model in the judgments file."""
    from spin.eval import mtbench
    from spin.eval import results as schema
    from spin.io import read_jsonl, sha256_file

    records = read_jsonl(path, required=("question_id", "model", "judge", "score", "turn"))
    _check(path, records)
    questions, cat_source = _questions(path, records)
    known = {int(q["question_id"]) for q in questions}
    qfile = next((p for p in (path.parent.parent / "question.jsonl",) if p.exists()), None)
    out = []
    by_model: dict[str, list[dict]] = {}
    for j in records:
        by_model.setdefault(str(j["model"]), []).append(j)
    for model, js in by_model.items():
        judges = sorted(
            {str(j["judge"][0] if isinstance(j["judge"], list) else j["judge"]) for j in js}
        )
        if len(judges) > 1:
            raise DataError(
                path, f"model '{model}' is judged by several judges {judges}", field="judge"
            )
        pairs = [(int(j["question_id"]), int(j["turn"])) for j in js]
        dup = next((p for p in pairs if pairs.count(p) > 1), None)
        if dup:
            raise DataError(path, f"model '{model}' has question {dup[0]} turn {dup[1]} twice")
        if all(int(j["question_id"]) in known for j in js):
            tasks, _ = mtbench.score(js, questions, judges[0])
        else:  # ids outside MT-Bench and no question.jsonl: no categories, only the means
            tasks = {}
            valid = [j for j in js if float(j["score"]) != -1]
            if not valid:
                raise DataError(path, f"model '{model}': no judgment has a parsable score")
            for name, sub in (
                ("turn1", [j for j in valid if int(j["turn"]) == 1]),
                ("turn2", [j for j in valid if int(j["turn"]) == 2]),
                ("mt_bench", valid),
            ):
                if sub:
                    v, se, n = mtbench._clustered(sub)
                    tasks[name] = {
                        "metric": f"{judges[0]} judge score (1-10)",
                        "value": round(v, 4),
                        "stderr": None if se is None else round(se, 4),
                        "n": n,
                        "shots": 0,
                    }
        valid = [j for j in js if float(j["score"]) != -1]
        samples = [
            {
                "task": "mt_bench",
                "doc_id": f"{j['question_id']}-{j['turn']}",
                "doc_key": doc_key(j["question_id"], j["turn"]),
                "score": float(j["score"]),
            }
            for j in valid
        ]
        tasks["mt_bench"]["data_sha256"] = content_digest([s["doc_key"] for s in samples])
        prov = {
            "harness": "FastChat llm_judge (gen_judgment --mode single)",
            "format": "FastChat MT-Bench single judgments",
            "imported_from": str(path),
            "imported_sha256": sha256_file(path),
            "judge": {
                "model": judges[0],
                "prompts": sorted(
                    {
                        str(j["judge"][1])
                        for j in js
                        if isinstance(j["judge"], list) and len(j["judge"]) > 1
                    }
                ),
            },
            "parse_failures": len(js) - len(valid),
            "categories_from": cat_source,
            "question_file": str(qfile) if qfile else None,
            "samples_file": None,
            "seed": None,
        }
        out.append(
            {
                "schema": schema.SCHEMA,
                "model": imported_model(model, path=model),
                "suite": "mt-bench",
                "tasks": tasks,
                "average": tasks["mt_bench"]["value"],
                "average_stderr": tasks["mt_bench"]["stderr"],
                "provenance": prov,
                "_samples": samples,
            }
        )
    return out
