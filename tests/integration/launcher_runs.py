"""One launcher's share of tests/integration/test_launchers.py: `spin train` for each method,
one after another in this process, so each launcher pays its start-up once.

usage: [accelerate launch --config_file CONFIG] -m tests.integration.launcher_runs \\
           ASSETS OUT DTYPE PER_DEVICE_BATCH METHOD[,METHOD...]

Each method trains from ASSETS/model on ASSETS/<its data> into OUT/<method> through
spin.cli's `train` verb, the very code `accelerate launch ... -m spin.cli train` runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from spin.cli import run_verb

DATA = {"sft": "sft", "spin": "pairs", "tspin": "triplets", "tspin_ref": "triplets"}


def config(per_device_batch: int, steps: int = 3) -> dict:
    """`steps` epochs of one step each: the 8 examples are the global batch, so every step
    sees every example and the launchers see the same batches whatever their samplers do.
    Plain SGD at a rate that moves the weights, so a weight difference is a gradient
    difference (RMSProp and Adam normalise tiny gradients into full-size steps, which turns
    rounding into lr-sized differences); no warmup."""
    return {
        "learning_rate": 0.05,
        "optimizer": "sgd",
        "lr_scheduler_type": "constant",
        "warmup_ratio": 0.0,
        "num_train_epochs": steps,
        "per_device_train_batch_size": per_device_batch,
        "gradient_accumulation_steps": 1,
        "max_length": 64,
        "logging_steps": 1,
        "save_steps": 1000,
    }


def main(argv: list[str]) -> None:
    assets, out, dtype, batch, methods = argv
    assets, out = Path(assets), Path(out)
    for method in methods.split(","):
        cfg = config(int(batch))
        if method != "sft":
            cfg |= {"beta": 0.1, "max_prompt_length": 48, "layout": "clean"}
        run_verb(
            [
                "train",
                "--method",
                method,
                "--model",
                str(assets / "model"),
                "--data",
                str(assets / DATA[method]),
                "--output-dir",
                str(out / method),
                "--config-json",
                json.dumps(cfg),
                "--seed",
                "0",
                "--dtype",
                dtype,
            ]
        )


if __name__ == "__main__":
    main(sys.argv[1:])
