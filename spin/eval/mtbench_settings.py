"""MT-Bench's pinned settings (eval/mt_bench_manifest.yaml): FastChat's data commit and
sha256s, fschat's per-category temperatures and sampling defaults; and fschat's model ids.
Shared by spin.eval.mtbench (data, judging, scores) and spin.eval.mtbench_answers."""

from __future__ import annotations

import re

from spin.eval.suites import eval_dir


def manifest() -> dict:
    import yaml

    return yaml.safe_load((eval_dir() / "mt_bench_manifest.yaml").read_text())


def model_id_for(name: str) -> str:
    """fschat names a model by its answer file's stem: keep it a plain file name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "model"


def temperature(category: str) -> float:
    """gen_model_answer's sampling temperature for a question category."""
    man = manifest()
    return float(man["temperatures"].get(category, man["default_temperature"]))
