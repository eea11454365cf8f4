"""A newcomer finds what each YAML key does in one place: every field of the config
dataclasses has its docstring in spin/config.py."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

import spin.config as config

SOURCE = Path(config.__file__).read_text(encoding="utf-8")
# Every block a YAML can hold: the top level, its sections and an arm.
BLOCKS = (
    config.Experiment,
    config.ModelConfig,
    config.DataConfig,
    config.SFTConfig,
    config.GenerationConfig,
    config.TrainingConfig,
    config.ArmConfig,
    config.EvalConfig,
    config.DynamicsConfig,
)


def _documented(cls_name: str) -> set[str]:
    """Fields of class cls_name followed by a string literal (attribute docstrings)."""
    node = next(n for n in ast.parse(SOURCE).body if getattr(n, "name", None) == cls_name)
    return {
        st.target.id
        for st, nxt in zip(node.body, node.body[1:], strict=False)
        if isinstance(st, ast.AnnAssign)
        and isinstance(nxt, ast.Expr)
        and isinstance(nxt.value, ast.Constant)
        and isinstance(nxt.value.value, str)
    }


def test_the_blocks_are_every_dataclass_a_yaml_reaches():
    nested = {f.type for f in dataclasses.fields(config.Experiment)}
    assert {c.__name__ for c in BLOCKS} - {"Experiment", "ArmConfig"} <= nested


@pytest.mark.parametrize("cls", BLOCKS, ids=lambda c: c.__name__)
def test_every_yaml_key_has_its_doc_where_it_is_declared(cls):
    missing = [f.name for f in dataclasses.fields(cls) if f.name not in _documented(cls.__name__)]
    assert not missing, f"{cls.__name__}: fields without a docstring: {missing}"
