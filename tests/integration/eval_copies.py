"""spin.eval.copies with the real BIG-Bench-Hard files from ../shared/data/bbh when present
(read, never copied into the repo), for SPIN's three BBH tasks."""

from __future__ import annotations

from pathlib import Path

from spin.eval import copies
from spin.eval.copies import build_openllm_copy, write_jsonl
from tests.shared import shared_path

SHARED_BBH = shared_path("data", "bbh", marker="causal_judgement.json")
__all__ = [
    "SHARED_BBH",
    "build_bbh_copy",
    "build_openllm_copy",
    "build_tspin10_copy",
    "write_jsonl",
]


def build_bbh_copy(root: Path) -> None:
    copies.build_bbh_copy(root, SHARED_BBH)


def build_tspin10_copy(root: Path) -> None:
    copies.build_tspin10_copy(root, SHARED_BBH)
