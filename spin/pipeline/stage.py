"""Stages: content-hashed units of work with atomic, resumable outputs.

A stage's key hashes its kind, its parameters and its inputs' keys. Its output lives in
`<run>/stages/<kind>-<key>/`, written first into `<kind>-<key>.partial/` and renamed into
place with a `run.json` only when complete. So:
- a completed stage is skipped on the next run (and shared between arms that need the
  same thing, e.g. θ0's generations serve SPIN iteration 0 and T-SPIN's y0);
- a killed stage leaves only its `.partial/` folder, which the stage itself may resume
  (generation appends shards; training resumes from its newest checkpoint);
- changing a parameter changes the key of that stage and of everything downstream.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from spin.errors import SpinError
from spin.io import remove_leftovers, sha256_json, write_json
from spin.provenance import provenance

log = logging.getLogger(__name__)

# Bump a kind's version when its code changes what it writes, to invalidate old outputs.
STAGE_VERSIONS = {
    "prepare": 1,
    "base_model": 1,
    "sft": 1,
    "generate": 1,
    "pairs": 1,
    "train": 1,
    "dynamics": 1,
    "eval": 1,
}


@dataclass
class Stage:
    """One unit of work. `action(ctx)` writes into ctx.workdir and returns a JSON-able summary."""

    kind: str
    name: str
    params: dict
    action: Callable[[StageContext], dict | None]
    deps: dict[str, Stage] = field(default_factory=dict)
    estimate: dict = field(default_factory=dict)
    """For `spin plan`: what the stage computes (examples, tokens, model parameters)."""

    @property
    def key(self) -> str:
        return sha256_json(
            {
                "kind": self.kind,
                "version": STAGE_VERSIONS[self.kind],
                "params": self.params,
                "deps": {k: d.key for k, d in sorted(self.deps.items())},
            }
        )[:16]

    @property
    def dirname(self) -> str:
        return f"{self.kind}-{self.key}"


@dataclass
class StageContext:
    stage: Stage
    workdir: Path
    inputs: dict[str, Path]
    seed: int


class Store:
    """The run's folder of stage outputs."""

    def __init__(self, root: str | Path, marks: dict | None = None):
        self.root = Path(root)
        self.stages_dir = self.root / "stages"
        self.marks = marks or {}
        """Written into every run.json (e.g. {"micro": True} for a `spin run --micro`)."""

    def path(self, stage: Stage) -> Path:
        return self.stages_dir / stage.dirname

    def done(self, stage: Stage) -> bool:
        return (self.path(stage) / "run.json").exists()

    def partial(self, stage: Stage) -> Path:
        return self.stages_dir / f"{stage.dirname}.partial"

    def summary(self, stage: Stage) -> dict:
        return json.loads((self.path(stage) / "run.json").read_text())["summary"]

    def run(self, stage: Stage, *, seed: int, config_hash: str) -> Path:
        """Run `stage` unless done; return its output folder."""
        final = self.path(stage)
        if self.done(stage):
            return final
        for name, dep in stage.deps.items():
            if not self.done(dep):  # the runner ran it first: its output went away since
                raise SpinError(
                    f"stage {stage.name} needs {dep.name} ({name}), but {self.path(dep)} is "
                    "missing or incomplete (deleted?); rerun to rebuild it"
                )
        partial = self.partial(stage)
        resumed = partial.exists()
        partial.mkdir(parents=True, exist_ok=True)
        ctx = StageContext(stage, partial, {n: self.path(d) for n, d in stage.deps.items()}, seed)
        log.info("%s stage %s -> %s", "resuming" if resumed else "running", stage.name, final.name)
        start = time.perf_counter()
        summary = stage.action(ctx) or {}
        record = {
            "stage": stage.name,
            "kind": stage.kind,
            "key": stage.key,
            "params": stage.params,
            "inputs": {n: {"stage": d.name, "key": d.key} for n, d in stage.deps.items()},
            "seed": seed,
            "experiment_hash": config_hash,
            "resumed": resumed,
            "duration_s": round(time.perf_counter() - start, 3),
            "summary": summary,
            **self.marks,
            **provenance(),
        }
        remove_leftovers(partial)  # temp files of writes a kill interrupted in an earlier try
        write_json(partial / "run.json", record)
        if (
            final.exists()
        ):  # a stale folder without run.json (should not happen); never merge into it
            shutil.rmtree(final)
        os.replace(partial, final)
        return final


def topological(stages: list[Stage]) -> list[Stage]:
    """Unique stages (by key) in dependency order, keeping the first-seen order otherwise."""
    seen: dict[str, Stage] = {}

    def visit(s: Stage):
        if s.key in seen:
            return
        for d in s.deps.values():
            visit(d)
        seen[s.key] = s

    for s in stages:
        visit(s)
    return list(seen.values())
