"""The tiny preset shrunk further for tests: same YAML, same stages, seconds per stage."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "replication" / "tiny.yaml"

MICRO = [
    "data.num_sft=160",
    "data.num_prompts=32",
    "data.num_eval=20",
    "model.hidden_size=64",
    "model.vocab_size=270",
    "sft.per_device_train_batch_size=16",
    "generation.max_new_tokens=8",
    "generation.batch_size=16",
    "generation.shard_size=8",
    "training.per_device_train_batch_size=8",
    "training.save_steps=2",
    "training.max_length=64",
    "training.max_prompt_length=48",
    "sft.max_length=64",
    "dynamics.max_train=16",
    "dynamics.max_heldout=8",
    "eval.batch_size=32",
    # two SPIN and T-SPIN iterations (SPIN's mixing and T-SPIN's β schedule act from iteration 1)
    "arms.spin.iterations=[{learning_rate: 1.0e-4, beta: 0.1}, {learning_rate: 2.0e-5, beta: 5.0}]",
    "arms.tspin.iterations=[{learning_rate: 1.0e-4}, {learning_rate: 2.0e-5}]",
    "arms.continued_sft.iterations=[{}]",
]


def micro_overrides(*extra: str) -> list[str]:
    return MICRO + list(extra)
