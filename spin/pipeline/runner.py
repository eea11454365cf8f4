"""Run an experiment's graph: every stage in order (skipping those done), then publish
results under <run>/results/ with friendly names and print a summary."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from tqdm.auto import tqdm

from spin.config import Experiment
from spin.errors import ConfigError
from spin.io import write_json
from spin.lock import folder_lock
from spin.pipeline.graph import Graph, build_graph
from spin.pipeline.stage import Store, topological
from spin.pipeline.stages import Dynamics
from spin.pipeline.stages import model_path as model_path_of
from spin.provenance import provenance

log = logging.getLogger(__name__)


def run_experiment(
    exp: Experiment, *, output_dir: str | Path | None = None, stop_after: str | None = None
) -> Path:
    """Run (or resume) the whole experiment; returns the run folder."""
    if exp.eval.data_dir and not Path(exp.eval.data_dir).is_dir():  # before any stage runs
        raise ConfigError(
            f"eval.data_dir: {exp.eval.data_dir} is not a folder (`spin eval download SUITE "
            "--data-dir DIR` writes one; empty reads the Hub)"
        )
    root = Path(output_dir) if output_dir else exp.resolved_output_dir
    root.mkdir(parents=True, exist_ok=True)
    with folder_lock(root):
        write_json(
            root / "experiment.json", {"config": exp.to_dict(), "hash": exp.hash(), **provenance()}
        )
        graph = build_graph(exp)
        store = Store(root, {"micro": True} if exp.micro else None)
        stages = topological(graph.stages)
        bar = tqdm(stages, desc="stages", unit="stage")
        for stage in bar:
            bar.set_postfix_str(stage.name)
            store.run(stage, seed=exp.seed, config_hash=exp.hash())
            if stop_after and stage.name == stop_after:
                log.info("stopping after %s as asked", stage.name)
                return root
        publish(graph, store, root)
    return root


def publish(graph: Graph, store: Store, root: Path) -> list[Path]:
    """Copy each eval stage's results into <run>/results/<model>__<suite>.json with the
    model block filled in, each dynamics file into <run>/results/dynamics/, and link each
    checkpoint as <run>/checkpoints/<arm>-<model name>."""
    import json

    results_dir = root / "results"
    written = []
    for stage, info in graph.evals:
        src_dir = store.path(stage)
        summary = store.summary(stage)
        payload = json.loads((src_dir / summary["results_file"]).read_text())
        model_path = payload.get("model", {}).get("path")
        payload["model"] = {**info, "path": model_path}
        slug = _slug(f"{info.get('arm', 'theta0')}-{info['name']}")
        samples = payload.get("provenance", {}).get("samples_file")
        if samples and (src_dir / Path(samples).name).exists():
            dst = results_dir / "samples" / f"{slug}__{payload['suite']}.jsonl"
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src_dir / Path(samples).name, dst)
            payload["provenance"]["samples_file"] = str(dst.relative_to(results_dir))
        out = results_dir / f"{slug}__{payload['suite']}.json"
        write_json(out, payload)
        written.append(out)
    for stage, info in graph.checkpoints:  # friendly names for the content-addressed models
        link = root / "checkpoints" / _slug(f"{info.get('arm', 'theta0')}-{info['name']}")
        link.parent.mkdir(parents=True, exist_ok=True)
        target = Path(model_path_of(store.path(stage))).resolve()
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
    for stage in graph.dynamics:
        payload = json.loads((store.path(stage) / Dynamics.OUTPUT).read_text())
        out = results_dir / "dynamics" / f"{payload['arm']}-iter{payload['iteration']}.json"
        write_json(out, payload)
        written.append(out)
    return written


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text).strip("_")
