"""Results files in the formats researchers already have, detected by content and converted to
spin-results/1 (DESIGN.md), so `spin compare` and `spin report` read them as they read ours.

Accepted (``FORMATS``), recognised by what a file holds, never by its name:

- spin-results/1: a JSON object whose ``"schema"`` is ``spin-results/1`` (``spin eval``);
- lm-eval 0.4 results: a JSON object with ``"results"`` keyed by task name and lm-eval's
  bookkeeping (``"n-shot"``, ``"configs"`` or ``"lm_eval_version"``), as ``lm_eval
  --output_path`` writes ``results_<date>.json``; its ``samples_<task>_<date>.jsonl`` beside it
  (``--log_samples``) are read for pairing (spin.report.lm_eval_files);
- Open LLM Leaderboard v1 results: ``"results"`` keyed ``harness|<task>|<shots>`` plus
  ``"config_general"`` (or the older ``"config"``) naming the model (spin.report.leaderboard_files);
- FastChat MT-Bench single-grading judgments: JSONL, one judgment a line with
  ``question_id``, ``model``, ``judge``, ``score``, ``turn`` (spin.report.judgment_files).

Every converted file keeps its source's provenance (harness and version, model args, task
hashes, shot counts, n) under ``provenance`` and names the file it came from
(``provenance.imported_from``). An imported model has ``method: "imported"`` and
``base_model: "unknown"``: a foreign file does not say what it was trained from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from spin.errors import DataError

SPIN = "spin-results/1"
LM_EVAL = "lm-eval results"
LEADERBOARD = "Open LLM Leaderboard v1 results"
FASTCHAT = "FastChat MT-Bench single judgments"
FORMATS = (
    "spin-results/1 JSON (spin eval)",
    "lm-eval 0.4 results_*.json (lm_eval --output_path; samples_*.jsonl beside it are used)",
    "Open LLM Leaderboard v1 results_*.json (harness|task|shots keys)",
    "FastChat MT-Bench single judgments *.jsonl (gen_judgment --mode single)",
)
_JUDGMENT_KEYS = ("question_id", "model", "judge", "score", "turn")
_LM_EVAL_MARKS = ("n-shot", "configs", "lm_eval_version", "n-samples")


def unknown_format(path: str | Path, what: str) -> DataError:
    """The one-line error for a file in no accepted format."""
    return DataError(path, f"{what}; accepted formats: {'; '.join(FORMATS)}")


def first_record(path: Path) -> Any:
    """The first non-blank line of a file parsed as JSON, or None when it is not JSON."""
    try:
        with path.open(encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    return json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return None


def is_judgment(record: Any) -> bool:
    """Whether a JSONL record is one FastChat single-mode judgment."""
    return isinstance(record, dict) and all(k in record for k in _JUDGMENT_KEYS)


def detect_object(obj: Any) -> str | None:
    """The format of a parsed JSON document, or None."""
    if not isinstance(obj, dict):
        return None
    if obj.get("schema") == SPIN:
        return SPIN
    res = obj.get("results")
    if not isinstance(res, dict) or not res:
        return None
    if any(isinstance(k, str) and k.startswith("harness|") for k in res):
        if isinstance(obj.get("config_general"), dict) or isinstance(obj.get("config"), dict):
            return LEADERBOARD
        return None
    if any(k in obj for k in _LM_EVAL_MARKS):
        return LM_EVAL
    return None


def detect(path: str | Path) -> str:
    """The format of a file (one of SPIN, LM_EVAL, LEADERBOARD, FASTCHAT), from its content.

    Raises DataError with the accepted formats when it is none of them.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(path, "file not found")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise unknown_format(path, "not UTF-8 text") from None
    except json.JSONDecodeError as e:
        record = first_record(path)
        if is_judgment(record):
            return FASTCHAT
        if isinstance(record, dict) and "g1_winner" in record:
            raise DataError(
                path, "FastChat pairwise judgments are not scores; give --mode single judgments"
            ) from None
        if isinstance(record, dict) and {"doc_id", "doc_hash"} <= set(record):
            raise DataError(
                path,
                "an lm-eval samples file: give the results_*.json beside it "
                "(its samples are found by lm-eval's naming)",
            ) from None
        raise unknown_format(path, f"not JSON ({e.msg} at line {e.lineno})") from None
    fmt = detect_object(obj)
    if fmt is None:
        if isinstance(obj, dict) and isinstance(obj.get("schema"), str):
            raise unknown_format(path, f"unknown schema {obj['schema']!r}")
        raise unknown_format(path, "not a results file in a known format")
    return fmt


def load_any(path: str | Path, *, suites: tuple[str, ...] = ()) -> list[dict]:
    """Read one file in any accepted format as validated spin-results/1 objects.

    A FastChat judgments file gives one object per judged model. Imported objects carry
    their per-document scores in memory under ``_samples`` (records with task, doc_id,
    doc_key, score), for the paired bootstrap. `suites` is a preference when lm-eval tasks
    fit several suites (gsm8k is in openllm-v1 and tspin-10).
    """
    from spin.report import schema

    path = Path(path)
    fmt = detect(path)
    if fmt == SPIN:
        return [schema.load_results(path)]
    if fmt == LM_EVAL:
        from spin.report import lm_eval_files

        objs = [lm_eval_files.convert(path, schema.read_json(path), suites=suites)]
    elif fmt == LEADERBOARD:
        from spin.report import leaderboard_files

        objs = [leaderboard_files.convert(path, schema.read_json(path))]
    else:
        from spin.report import judgment_files

        objs = judgment_files.convert(path)
    out = []
    for obj in objs:
        samples = obj.pop("_samples", None)
        checked = schema.validate_results(obj, path)
        if samples is not None:
            checked["_samples"] = samples
        out.append(checked)
    return out
