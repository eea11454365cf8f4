"""Every shipped experiment's stage folders and printed commands, as one JSON-able snapshot.

A stage's folder name is `<kind>-<key>`; the key hashes the stage's parameters, so existing
runs (and tests/golden/tiny_losses.json) stay valid only while refactors leave the keys
byte-identical. tests/golden/stage_keys.json holds the snapshot taken before the stage
classes replaced the generic Stage; tests/unit/test_stage_keys.py rebuilds it and compares.
Retake it (in the commit that changes a key on purpose) with

    python -m tests.stage_snapshot
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import sys
from pathlib import Path

from spin.cli import main as spin
from spin.config import load_experiment
from spin.pipeline.graph import build_graph
from spin.pipeline.stage import topological

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "stage_keys.json"
EXPERIMENTS = sorted((ROOT / "replication").glob("*.yaml"))  # not bases/: no experiments
RUN = "/RUN"  # a run folder that does not exist: nothing is done, every command is printed
DRY_RUN = ("tiny.yaml", "spin-zephyr-7b.yaml")  # `spin run --dry-run` is recorded for these


def override_sets(path: Path) -> dict[str, list[str]]:
    """Named --set lists: none, another seed, a global and one iteration's learning rate, and
    a local evaluation folder (which enters the eval keys only when set)."""
    sets = {
        "none": [],
        "seed": ["seed=1"],
        "lr": ["training.learning_rate=3e-5"],
        "eval_data_dir": ["eval.data_dir=/EVAL"],
    }
    exp = load_experiment(path)
    named = [(a, spec) for a, spec in exp.arms.items() if a.isidentifier()]  # not a grid point
    if named:
        arm, spec = named[0]
        last = len(spec.iterations) - 1
        sets["iteration_lr"] = [f"arms.{arm}.iterations.{last}.learning_rate=3e-5"]
    return sets


def _normalised(text: str) -> list[str]:
    """Output lines without what depends on the machine: the interpreter, the checkout and
    the free disk space."""
    lines = []
    for line in text.replace(sys.executable, "<python>").replace(str(ROOT), "<root>").split("\n"):
        if not line.startswith("WARNING: "):
            lines.append(line)
    return lines


def digest(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _output(argv: list[str]) -> list[str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert spin(argv) == 0, argv
    return _normalised(out.getvalue())


def experiment_snapshot(path: Path) -> dict:
    """For each override set: stage name -> folder name, and the `spin plan --commands` lines
    (in full without overrides; as a sha256 with them, to keep the file small)."""
    snap = {}
    for name, sets in override_sets(path).items():
        exp = load_experiment(path, sets)
        args = [a for s in sets for a in ("--set", s)]
        plan = _output(["plan", str(path), "--output-dir", RUN, "--commands", *args])
        snap[name] = {
            "sets": sets,
            "stages": {s.name: s.dirname for s in topological(build_graph(exp).stages)},
            **({"plan": plan} if not sets else {"plan_sha256": digest(plan)}),
        }
    if path.name in DRY_RUN:
        snap["none"]["dry_run"] = _output(["run", str(path), "--output-dir", RUN, "--dry-run"])
    return snap


def snapshot() -> dict:
    return {p.name: experiment_snapshot(p) for p in EXPERIMENTS}


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(snapshot(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
