"""The tiny preset shrunk further for tests: spin.micro's tiny sizes (what `spin run
--micro` applies to tiny recipes) plus two iterations per arm of tiny.yaml."""

from __future__ import annotations

from pathlib import Path

from spin.micro import TINY as TINY_SIZES

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "replication" / "tiny.yaml"

MICRO = [
    *TINY_SIZES,
    # two SPIN and T-SPIN iterations (SPIN's mixing and T-SPIN's β schedule act from iteration 1)
    "arms.spin.iterations=[{learning_rate: 1.0e-4, beta: 0.1}, {learning_rate: 2.0e-5, beta: 5.0}]",
    "arms.tspin.iterations=[{learning_rate: 1.0e-4}, {learning_rate: 2.0e-5}]",
    "arms.continued_sft.iterations=[{}]",
]


def micro_overrides(*extra: str) -> list[str]:
    return MICRO + list(extra)
