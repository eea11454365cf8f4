"""spin plan's memory formula against the measured peak of micro runs on CPU: the same
formula, the same layer code (HF Mistral, SDPA), small sizes, fp32."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from spin.memory import Architecture, Strategy, TrainingShape, training_memory

PROBE = Path(__file__).with_name("memory_probe.py")
# The tolerance the README states for the formula on CPU.
TOLERANCE = 0.15


@pytest.mark.parametrize(
    "arch, batch, length",
    [
        (Architecture(256, 4, 4, 2, 768, 8000), 2, 256),
        (Architecture(384, 2, 6, 6, 1024, 4000), 4, 128),
    ],
)
@pytest.mark.parametrize("checkpointing", [False, True])
def test_estimate_matches_the_measured_cpu_peak(arch, batch, length, checkpointing):
    spec = {
        "hidden_size": arch.hidden_size,
        "num_layers": arch.num_layers,
        "num_heads": arch.num_heads,
        "num_kv_heads": arch.num_kv_heads,
        "intermediate_size": arch.intermediate_size,
        "vocab_size": arch.vocab_size,
        "batch": batch,
        "sequences": 2,
        "max_length": length,
        "gradient_checkpointing": checkpointing,
    }
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1"}
    res = subprocess.run(
        [sys.executable, str(PROBE), json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    measured = json.loads(res.stdout.strip().splitlines()[-1])
    assert measured["n_params"] == arch.n_params
    shape = TrainingShape(batch, 2, length, checkpointing, "rmsprop", "float32")
    est = training_memory(arch, shape, Strategy("single", 1, "no"), capacity=1e12, reserve=0)
    ratio = est.total / measured["peak_bytes"]
    print(
        f"estimate {est.total / 2**20:.1f} MiB, measured {measured['peak_bytes'] / 2**20:.1f} MiB"
    )
    assert abs(ratio - 1) <= TOLERANCE, f"estimate/measured = {ratio:.3f}"


def test_probe_peak_ignores_the_parent_process_memory():
    """A child's ru_maxrss starts at its parent's RSS (Linux carries it across fork and exec),
    so a probe run from a test suite holding gigabytes would measure the suite; VmHWM does not."""
    held = bytearray(1 << 30)  # 1 GiB, touched so it is resident
    held[::4096] = b"\1" * len(range(0, len(held), 4096))
    code = (
        "import json, resource, sys; sys.path.insert(0, sys.argv[1]);"
        "from memory_probe import high_water_rss;"
        "print(json.dumps([high_water_rss(),"
        " resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024]))"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(PROBE.parent)], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr[-2000:]
    hwm, maxrss = json.loads(res.stdout)
    assert maxrss >= len(held)  # the inherited figure this probe must not use
    assert hwm < len(held) // 2
    del held
