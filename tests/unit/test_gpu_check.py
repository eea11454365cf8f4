"""scripts/gpu_check.sh on a machine without CUDA: one line, exit code 3, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu_check.sh"


def test_script_has_help():
    assert os.access(SCRIPT, os.X_OK)
    res = subprocess.run(
        ["bash", str(SCRIPT), "--help"], capture_output=True, text=True, timeout=30
    )
    assert res.returncode == 0 and "usage:" in res.stdout and "reports/gpu_check.json" in res.stdout


@pytest.mark.skipif(
    __import__("torch").cuda.is_available(), reason="the refusal needs a machine without CUDA"
)
def test_refuses_cleanly_without_cuda(tmp_path):
    out = tmp_path / "gpu_check.json"
    env = {**os.environ, "SPIN_PYTHON": sys.executable, "PYTHONPATH": str(ROOT)}
    res = subprocess.run(
        ["bash", str(SCRIPT), "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert res.returncode == 3
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert lines == [
        "gpu_check: error: no CUDA device visible (torch.cuda.is_available() is False); "
        "this check needs one GPU"
    ]
    assert not out.exists()
