"""Stored-loss regression (torchtune's style): the tiny run's first SFT, SPIN and T-SPIN
losses equal stored values, so that a change to data, tokenisation, generation or the losses
that moves the demo's numbers cannot go unnoticed.

Only the stages the training stages need run (no evaluation, no dynamics), at the micro
sizes. After an intended change, regenerate the stored values with
SPIN_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/integration/test_stored_losses.py
and regenerate the README's demo table (`bash scripts/demo.sh`, seed 42) with them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from spin.config import load_experiment
from spin.pipeline.graph import build_graph
from spin.pipeline.stage import Store, topological
from tests.integration.micro import TINY, micro_overrides

pytestmark = pytest.mark.slow

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "tiny_losses.json"
UPDATE = os.environ.get("SPIN_UPDATE_GOLDEN") == "1"
FIRST = 4
"""Losses pinned per training stage (logged every step)."""
RTOL, ATOL = 1e-4, 1e-6
"""float32 on CPU repeats bit for bit on one machine; the tolerance absorbs another BLAS."""


def _experiment(tmp_path: Path):
    preset = tmp_path / "losses.yaml"
    preset.write_text(
        f"base: {TINY}\n"
        "arms:\n"
        "  spin: {method: spin, iterations: [{learning_rate: 1.0e-4, beta: 0.1}]}\n"
        "  tspin: {method: tspin, training: {alpha: 1.0, beta: 0.1},\n"
        "          iterations: [{learning_rate: 1.0e-4}, {learning_rate: 2.0e-5}]}\n"
    )
    overrides = [o for o in micro_overrides() if not o.startswith("arms.")]
    return load_experiment(preset, [*overrides, "sft.logging_steps=1", "training.logging_steps=1"])


def test_first_losses_match_the_stored_values(tmp_path):
    exp = _experiment(tmp_path)
    training = [s for s in build_graph(exp).stages if s.kind in ("sft", "train")]
    store = Store(tmp_path / "run")
    for stage in topological(training):  # the training stages and what they depend on
        store.run(stage, seed=exp.seed, config_hash=exp.hash())
    losses = {s.name: store.summary(s)["losses"][:FIRST] for s in training}
    assert set(losses) == {"sft", "spin/iter0/train", "tspin/iter0/train", "tspin/iter1/train"}
    if UPDATE:
        GOLDEN.write_text(json.dumps(losses, indent=2, sort_keys=True) + "\n")
    assert GOLDEN.exists(), f"{GOLDEN} missing: run with SPIN_UPDATE_GOLDEN=1"
    stored = json.loads(GOLDEN.read_text())
    assert set(stored) == set(losses)
    for name, values in stored.items():
        assert len(losses[name]) == len(values) == FIRST, name
        assert losses[name] == pytest.approx(values, rel=RTOL, abs=ATOL), name
