"""Stages: content-hashed units of work with atomic, resumable outputs.

A stage's key hashes its kind, its parameters and its inputs' keys. Its output lives in
`<run>/stages/<kind>-<key>/`, written first into `<kind>-<key>.partial/` and renamed into
place with a `run.json` only when complete. So:
- a completed stage is skipped on the next run (and shared between arms that need the
  same thing, e.g. θ0's generations serve SPIN iteration 0 and T-SPIN's y0);
- a killed stage leaves only its `.partial/` folder, which the stage itself may resume
  (generation appends shards; training resumes from its newest checkpoint);
- changing a parameter changes the key of that stage and of everything downstream.

Each kind of stage is one class (spin.pipeline.stages) holding its typed config and its
input stages; this module holds what they share: the key, the context a stage runs in,
and the store of finished outputs.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import ClassVar

from spin.errors import SpinError
from spin.io import remove_leftovers, sha256_json, write_json
from spin.provenance import provenance

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Stage:
    """One unit of work. A subclass is a frozen dataclass: `name`, its typed config fields,
    and its input stages as fields named in INPUTS (None when absent). Its key is computed
    once: the graph is fixed when built, and a recursive key per lookup is exponential."""

    kind: ClassVar[str]
    version: ClassVar[int] = 1
    """Bump when the kind's code changes what it writes, to invalidate old outputs."""
    INPUTS: ClassVar[tuple[str, ...]] = ()
    """The fields holding input stages, in the order they run and are recorded."""

    name: str

    def params(self) -> dict:
        """What the key hashes besides the inputs: the config that decides the output."""
        raise NotImplementedError

    @property
    def inputs(self) -> dict[str, Stage]:
        """The input stages by name (absent optional inputs left out)."""
        found = ((n, getattr(self, n)) for n in self.INPUTS)
        return {n: stage for n, stage in found if stage is not None}

    @cached_property
    def key(self) -> str:
        return sha256_json(
            {
                "kind": self.kind,
                "version": self.version,
                "params": self.params(),
                "deps": {k: d.key for k, d in sorted(self.inputs.items())},
            }
        )[:16]

    @property
    def dirname(self) -> str:
        return f"{self.kind}-{self.key}"

    def argv(self, ctx: StageContext) -> list[str] | None:
        """The command this stage runs (`spin generate|train|eval ...` or `accelerate launch
        ...`), on the folders of ctx; None for the kinds done in-process without a CLI verb.
        `spin run --dry-run` and `spin plan --commands` print it, and run() executes it."""
        return None

    def run(self, ctx: StageContext) -> dict | None:
        """Write the outputs into ctx.workdir, reading only ctx.inputs; return a JSON-able
        summary for run.json."""
        raise NotImplementedError


@dataclass
class StageContext:
    """Where a stage runs: its work folder, its inputs' output folders, the run's seed."""

    workdir: Path
    inputs: dict[str, Path]
    seed: int


def run_argv(argv: list[str]) -> None:
    """Execute a stage's argv: `spin VERB ...` in this process, anything else (an
    `accelerate launch`) as a subprocess."""
    if argv[0] != "spin":
        log.info("launching: %s", " ".join(argv))
        subprocess.run(argv, check=True)
        return
    from spin.cli import run_verb

    run_verb(argv[1:])


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

    def context(self, stage: Stage, seed: int) -> StageContext:
        """The folders `stage` runs in (nothing is created): its .partial/ work folder and
        its inputs' outputs."""
        inputs = {n: self.path(d) for n, d in stage.inputs.items()}
        return StageContext(self.partial(stage), inputs, seed)

    def run(self, stage: Stage, *, seed: int, config_hash: str) -> Path:
        """Run `stage` unless done; return its output folder."""
        final = self.path(stage)
        if self.done(stage):
            return final
        for name, dep in stage.inputs.items():
            if not self.done(dep):  # the runner ran it first: its output went away since
                raise SpinError(
                    f"stage {stage.name} needs {dep.name} ({name}), but {self.path(dep)} is "
                    "missing or incomplete (deleted?); rerun to rebuild it"
                )
        partial = self.partial(stage)
        resumed = partial.exists()
        partial.mkdir(parents=True, exist_ok=True)
        ctx = self.context(stage, seed)
        log.info("%s stage %s -> %s", "resuming" if resumed else "running", stage.name, final.name)
        start = time.perf_counter()
        summary = stage.run(ctx) or {}
        record = {
            "stage": stage.name,
            "kind": stage.kind,
            "key": stage.key,
            "params": stage.params(),
            "inputs": {n: {"stage": d.name, "key": d.key} for n, d in stage.inputs.items()},
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
        for d in s.inputs.values():
            visit(d)
        seen[s.key] = s

    for s in stages:
        visit(s)
    return list(seen.values())
