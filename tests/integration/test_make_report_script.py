"""scripts/make_report.sh takes a relative --output-dir from the caller's folder, like any
command (it used to cd into the repository first and write there)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_relative_output_dir_is_the_callers(tmp_path):
    name = f"out-{os.getpid()}"  # unique, so a stray folder in the repository would be ours
    assert not (REPO / name).exists()
    proc = subprocess.run(
        [
            "bash",
            str(REPO / "scripts" / "make_report.sh"),
            "--output-dir",
            name,
            "--figures",
            "none",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / name / "tables" / "spin-table2.tex").exists()
    assert not (REPO / name).exists()
    assert f"under {name}/" in proc.stdout
