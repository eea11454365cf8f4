"""`spin train`: one training stage, in this process or as the target of `accelerate launch`
(the pipeline launches it that way for multi-GPU and multi-process runs)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from spin.method import TRAINERS

HELP = "Train one stage (SFT, SPIN, T-SPIN) on a prepared dataset; runs under accelerate."
EXAMPLE = (
    "accelerate launch --config_file replication/accelerate/cpu-2proc.yaml -m spin.cli train "
    "--method spin --model runs/tiny/seed42/stages/sft-.../model --data DATASET_DIR "
    "--output-dir OUT"
)
# One trainer per spin.method record (tspin_noha trains with tspin at β = 0).
METHODS = TRAINERS


def add_arguments(p) -> None:
    p.add_argument("--method", choices=METHODS, required=True)
    p.add_argument(
        "--model",
        required=True,
        help="starting checkpoint (θt); also the reference for spin/tspin_ref",
    )
    p.add_argument(
        "--data",
        required=True,
        help="dataset saved with datasets.save_to_disk (see spin.train.dataset)",
    )
    p.add_argument(
        "--output-dir",
        required=True,
        help="writes OUT/model, OUT/checkpoints, OUT/train_result.json",
    )
    p.add_argument(
        "--config-json",
        default="{}",
        help="training config as JSON (TrainingConfig or SFTConfig fields)",
    )
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override one config field"
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])


def run_training(
    method: str, model: str, data: str | Path, output_dir: str | Path, cfg, *, seed: int, dtype: str
) -> dict:
    """Dispatch to the trainer for `method`; returns the trainer's result (log history)."""
    from spin.train import cpu_fsdp

    cpu_fsdp.enable()  # an FSDP launch on CPU processes shards as on GPUs (see cpu_fsdp)
    if not Path(model).exists():
        from spin.errors import SpinError

        raise SpinError(f"model path not found: {model}")
    if method == "sft":
        from spin.train.sft import train_sft

        return train_sft(model, data, output_dir, cfg, seed=seed, dtype=dtype)
    if method == "spin":
        from spin.train.spin_trainer import train_spin

        return train_spin(model, data, output_dir, cfg, seed=seed, dtype=dtype)
    from spin.train.triplet import train_tspin

    return train_tspin(
        model, data, output_dir, cfg, seed=seed, dtype=dtype, reference=method == "tspin_ref"
    )


def main(args) -> int:
    from spin.config import SFTConfig, TrainingConfig, apply_override, from_dict
    from spin.io import write_json

    data = json.loads(args.config_json)
    for item in args.set:
        apply_override(data, item)
    cfg = from_dict(SFTConfig if args.method == "sft" else TrainingConfig, data, "config")
    result = run_training(
        args.method, args.model, args.data, args.output_dir, cfg, seed=args.seed, dtype=args.dtype
    )
    from accelerate import PartialState

    if PartialState().is_main_process:
        write_json(Path(args.output_dir) / "train_result.json", {**result, "config": asdict(cfg)})
    return 0
