"""`spin train` under `accelerate launch` with the 2-CPU-process config, for real."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _pairs_dataset(tiny_model_dir, tiny_items, out):
    from transformers import AutoTokenizer

    from spin.train.dataset import build_dataset

    records = [
        {"prompt": i["prompt"], "real": i["answer"], "generated": "0"} for i in tiny_items[:32]
    ]
    return build_dataset(
        records,
        AutoTokenizer.from_pretrained(tiny_model_dir),
        kind="pairs",
        prompt_format="chat",
        max_prompt_length=48,
        out_dir=out,
    )


def _config(**extra):
    """Four examples per process, one epoch, a loss line per step."""
    from spin.config import TrainingConfig

    return TrainingConfig(
        learning_rate=1e-4,
        num_train_epochs=1,
        per_device_train_batch_size=4,
        max_length=64,
        max_prompt_length=48,
        logging_steps=1,
        **extra,
    )


def test_spin_train_two_cpu_processes(tiny_model_dir, tiny_items, tmp_path):
    from spin.pipeline.stages import train_command

    _pairs_dataset(tiny_model_dir, tiny_items, tmp_path / "ds")
    cfg = _config(layout="clean")  # the tiny model's format (replication/tiny.yaml)
    cmd = train_command(
        "spin",
        tiny_model_dir,
        tmp_path / "ds",
        tmp_path / "out",
        cfg,
        0,
        "float32",
        ROOT / "replication/accelerate/cpu-2proc.yaml",
    )
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-4000:]
    result = json.loads((tmp_path / "out" / "train_result.json").read_text())
    steps = [h for h in result["log_history"] if "loss" in h]
    # 32 pairs / (4 per process x 2 processes) = 4 optimizer steps: both ranks shared the data
    assert len(steps) == 4
    assert (tmp_path / "out" / "model" / "model.safetensors").exists()
    # data parallel: whole parameters on each rank
    assert result["sharding"]["distributed_type"] == "MULTI_CPU"
    assert not result["sharding"]["fsdp2"] and result["sharding"]["dtensor_params"] == 0
    assert not list((tmp_path / "out" / "checkpoints").glob("checkpoint-*"))


def test_tspin_ref_two_process_fsdp2(tiny_model_dir, tiny_items, tmp_path):
    """T-SPIN_ref under the FSDP2 config with 2 CPU processes: its reference pass runs on the
    model as the Trainer prepared it, so at step 0 (θ = θt) every reward is 0 on both ranks.
    (Run in __init__, rank 1 scored with the zeros that cpu_ram_efficient_loading gives it.)"""
    from transformers import AutoTokenizer

    from spin.pipeline.stages import train_command
    from spin.train.dataset import build_dataset

    records = [
        {"prompt": i["prompt"], "real": i["answer"], "generated": "0", "proto": "no"}
        for i in tiny_items[:16]
    ]
    build_dataset(
        records,
        AutoTokenizer.from_pretrained(tiny_model_dir),
        kind="triplets",
        prompt_format="chat",
        max_prompt_length=48,
        out_dir=tmp_path / "ds",
    )
    cfg = _config(beta=0.1)
    cmd = train_command(
        "tspin_ref",
        tiny_model_dir,
        tmp_path / "ds",
        tmp_path / "out",
        cfg,
        0,
        "float32",
        ROOT / "replication/accelerate/fsdp2-cpu-2proc.yaml",
    )
    at = cmd.index("--config_file") + 2
    cmd[at:at] = ["--mixed_precision", "no"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-4000:]
    result = json.loads((tmp_path / "out" / "train_result.json").read_text())
    # really FSDP2, not a data-parallel fallback: every parameter a sharded DTensor
    sharding = result["sharding"]
    assert sharding["distributed_type"] == "FSDP" and sharding["num_processes"] == 2
    assert sharding["fsdp2"] and sharding["dtensor_params"] == sharding["params"] > 0
    steps = [h for h in result["log_history"] if "loss" in h]
    assert len(steps) == 2  # 16 triplets / (4 per process x 2 processes)
    for role in ("real", "generated", "proto"):
        assert abs(steps[0][f"rewards/{role}"]) < 1e-4
    assert (tmp_path / "out" / "checkpoints" / "reference_logps.pt").exists()
    assert (tmp_path / "out" / "model" / "model.safetensors").exists()  # FULL_STATE_DICT


def test_the_cpu_fsdp2_config_is_the_gpu_one_on_two_processes():
    import yaml

    cpu, gpu = (
        yaml.safe_load((ROOT / "replication/accelerate" / name).read_text())
        for name in ("fsdp2-cpu-2proc.yaml", "fsdp2-8gpu.yaml")
    )
    assert cpu.pop("num_processes") == 2
    gpu.pop("num_processes")
    assert cpu == gpu
