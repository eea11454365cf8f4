"""Every shipped accelerate config loads with accelerate itself and says what it should."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

CONFIG_DIR = Path(__file__).resolve().parents[2] / "replication" / "accelerate"

# file -> the settings the replication depends on (a typo or a silent edit fails here)
EXPECTED = {
    "zero3-8gpu.yaml": {
        "distributed_type": "DEEPSPEED",
        "num_processes": 8,
        "num_machines": 1,
        "mixed_precision": "bf16",
        "deepspeed_config": {
            "zero_stage": 3,
            "zero3_init_flag": True,
            "zero3_save_16bit_model": True,
            "offload_optimizer_device": "none",
            "offload_param_device": "none",
        },
    },
    "fsdp2-8gpu.yaml": {
        "distributed_type": "FSDP",
        "num_processes": 8,
        "mixed_precision": "bf16",
        "fsdp_config": {"fsdp_version": 2, "fsdp_state_dict_type": "FULL_STATE_DICT"},
    },
    "zero3-cpu-2proc.yaml": {  # zero3-8gpu.yaml on 2 CPU processes (the micro runs' ZeRO-3)
        "distributed_type": "DEEPSPEED",
        "num_processes": 2,
        "use_cpu": True,
        "mixed_precision": "bf16",
        "deepspeed_config": {
            "zero_stage": 3,
            "zero3_init_flag": True,
            "zero3_save_16bit_model": True,
            "offload_optimizer_device": "none",
            "offload_param_device": "none",
        },
    },
    "fsdp2-cpu-2proc.yaml": {  # fsdp2-8gpu.yaml on 2 CPU processes (the micro runs' FSDP)
        "distributed_type": "FSDP",
        "num_processes": 2,
        "mixed_precision": "bf16",
        "fsdp_config": {"fsdp_version": 2, "fsdp_state_dict_type": "FULL_STATE_DICT"},
    },
    "single-gpu.yaml": {"distributed_type": "NO", "num_processes": 1, "mixed_precision": "bf16"},
    "cpu-2proc.yaml": {
        # MULTI_GPU so that accelerate launches 2 processes through torchrun; the trainers
        # put each on the CPU (gloo). MULTI_CPU would start only one (see the file).
        "distributed_type": "MULTI_GPU",
        "num_processes": 2,
        "use_cpu": False,
        "mixed_precision": "no",
    },
    "multinode-zero3.yaml": {
        "distributed_type": "DEEPSPEED",
        "num_machines": 2,
        "num_processes": 16,
        "mixed_precision": "bf16",
        "deepspeed_config": {
            "zero_stage": 3,
            "zero3_init_flag": True,
            "zero3_save_16bit_model": True,
            "deepspeed_multinode_launcher": "standard",
        },
    },
}


def test_the_shipped_set_is_the_expected_set():
    assert sorted(p.name for p in CONFIG_DIR.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_config_has_expected_settings(name):
    data = yaml.safe_load((CONFIG_DIR / name).read_text())
    for key, want in EXPECTED[name].items():
        if isinstance(want, dict):
            for sub, value in want.items():
                assert data[key][sub] == value, f"{name}: {key}.{sub}"
        else:
            assert data[key] == want, f"{name}: {key}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_accelerate_loads_it(name):
    # accelerate's own loader rejects unknown top-level keys and bad enum values.
    config_args = pytest.importorskip("accelerate.commands.config.config_args")
    config = config_args.load_config_from_file(str(CONFIG_DIR / name))
    assert config.num_processes == EXPECTED[name]["num_processes"]
    assert config.distributed_type.value == EXPECTED[name]["distributed_type"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_plugin_keys_are_known_to_accelerate_launch(name):
    # Keys inside deepspeed_config / fsdp_config are passed on as `accelerate launch`
    # options of the same name; an unknown one would be dropped without a word.
    launch = pytest.importorskip("accelerate.commands.launch")
    options = {
        opt.lstrip("-").replace("-", "_")
        for action in launch.launch_command_parser()._actions
        for opt in action.option_strings
    }
    data = yaml.safe_load((CONFIG_DIR / name).read_text())
    for section in ("deepspeed_config", "fsdp_config"):
        unknown = set(data.get(section, {})) - options
        assert not unknown, f"{name}: {section} has keys accelerate does not know: {unknown}"


# A CPU twin differs from its GPU config only in what a CPU needs: how many processes (two
# cores here) and, for DeepSpeed, use_cpu (no CUDA device to bind each rank to).
CPU_TWINS = {
    "zero3-cpu-2proc.yaml": ("zero3-8gpu.yaml", {"num_processes", "use_cpu"}),
    "fsdp2-cpu-2proc.yaml": ("fsdp2-8gpu.yaml", {"num_processes"}),
}


@pytest.mark.parametrize("twin", sorted(CPU_TWINS))
def test_a_cpu_twin_differs_from_its_gpu_config_only_where_a_cpu_needs(twin):
    gpu_name, allowed = CPU_TWINS[twin]
    cpu, gpu = (yaml.safe_load((CONFIG_DIR / n).read_text()) for n in (twin, gpu_name))
    differ = {k for k in cpu.keys() | gpu.keys() if cpu.get(k) != gpu.get(k)}
    assert differ == allowed, f"{twin} differs from {gpu_name} in {sorted(differ)}"
