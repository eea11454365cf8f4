"""A command `spin plan --commands` prints is the command the run executes: run as printed
(a subprocess), it writes what the stage itself writes (generate: the same file; eval: the
same scores)."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from spin.cli import main as spin
from spin.io import read_jsonl
from tests.integration.micro import ROOT, TINY, micro_overrides

pytestmark = pytest.mark.slow

# sampled, not greedy: the printed seed has to be the run's for the outputs to match
SETS = [a for o in micro_overrides("generation.temperature=1.0") for a in ("--set", o)]


def _printed(capsys, run) -> dict[str, list[str]]:
    """stage name -> its printed command."""
    assert spin(["plan", str(TINY), "--output-dir", str(run), "--commands", *SETS]) == 0
    lines, commands = capsys.readouterr().out.splitlines(), {}
    for above, line in zip(lines, lines[1:], strict=False):
        if line.strip().startswith("$ ") and above.startswith("["):
            commands[above.split("]", 1)[1].split()[0]] = shlex.split(line.split("$ ", 1)[1])
    return commands


def _run(run, stop_after: str) -> int:
    return spin(
        ["run", str(TINY), "--output-dir", str(run), "-q", "--stop-after", stop_after, *SETS]
    )


def test_printed_generate_command_writes_the_stages_output(tmp_path, capsys):
    run = tmp_path / "run"
    assert _run(run, "sft") == 0
    cmd = _printed(capsys, run)["spin/iter0/generate"]
    assert cmd[:2] == ["spin", "generate"] and cmd[cmd.index("--seed") + 1] == "42"
    res = subprocess.run(
        [sys.executable, "-m", "spin.cli", *cmd[1:]], capture_output=True, text=True, cwd=ROOT
    )
    assert res.returncode == 0, res.stderr[-3000:]
    out = cmd[cmd.index("--output") + 1]
    printed = read_jsonl(out)
    assert printed and any(r["generated"] for r in printed)
    shutil.rmtree(out.rsplit("/", 1)[0])  # the .partial folder: let the stage start afresh
    assert _run(run, "spin/iter0/generate") == 0
    [done] = [d for d in (run / "stages").glob("generate-*") if not d.name.endswith(".partial")]
    assert read_jsonl(done / "generations.jsonl") == printed


def test_printed_eval_command_scores_as_the_stage_does(tmp_path, capsys):
    run = tmp_path / "run"
    assert _run(run, "sft") == 0
    cmd = _printed(capsys, run)["SFT/eval-tiny"]
    assert cmd[:3] == ["spin", "eval", "tiny"]
    res = subprocess.run(
        [sys.executable, "-m", "spin.cli", *cmd[1:]], capture_output=True, text=True, cwd=ROOT
    )
    assert res.returncode == 0, res.stderr[-3000:]
    out = Path(cmd[cmd.index("--output-dir") + 1])
    printed = json.loads((out / "tiny.json").read_text())
    shutil.rmtree(out)  # the .partial folder: let the stage start afresh
    assert _run(run, "SFT/eval-tiny") == 0
    [done] = [d for d in (run / "stages").glob("eval-*") if not d.name.endswith(".partial")]
    stage = json.loads((done / "tiny.json").read_text())
    assert printed["tasks"] and (printed["tasks"], printed["average"]) == (
        stage["tasks"],
        stage["average"],
    )
