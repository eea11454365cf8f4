"""Stages that produce a checkpoint, and the base-model stage that starts every chain.

Every model-producing stage leaves its checkpoint at (or links it as) `<stage>/model`: the
path is known before the stage runs, so a later stage's printed command (`spin plan
--commands`) is the command that runs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

from spin.config import ModelConfig
from spin.errors import SpinError
from spin.io import read_jsonl
from spin.pipeline.stage import Stage, StageContext
from spin.pipeline.stages.data import Prepare


@dataclass(frozen=True, eq=False)
class ModelStage(Stage):
    """A stage whose output is a checkpoint (θ0, an SFT epoch, a self-play iterate)."""

    MODEL: ClassVar[str] = "model"


def model_path(stage_dir: Path) -> str:
    """The checkpoint a model-producing stage made (or links to, as `model`).

    A stage not run yet gives `<stage>/model`, where it will be: so the command `spin plan`
    prints for a later stage is the one that runs. Base-model stages from before the link
    recorded only the path in run.json."""
    run = stage_dir / "run.json"
    if not (stage_dir / ModelStage.MODEL).is_dir() and run.exists():
        return json.loads(run.read_text())["summary"]["model_path"]
    return str(stage_dir / ModelStage.MODEL)


@dataclass(frozen=True, eq=False)
class BaseModel(ModelStage):
    """θ0's starting point: the tiny model built here (from the prepared data's words), a
    local checkpoint, or a pinned Hub snapshot (downloaded once into the HF cache)."""

    kind: ClassVar[str] = "base_model"
    INPUTS: ClassVar[tuple[str, ...]] = ("data",)

    model: ModelConfig
    seed: int | None
    """Seeds the tiny model's initialisation; None for a pretrained checkpoint."""
    data: Prepare | None = None
    """The tiny model's tokenizer corpus (tiny only)."""

    def params(self) -> dict:
        return {"model": asdict(self.model), "seed": self.seed}

    def run(self, ctx: StageContext) -> dict:
        cfg = self.model
        if cfg.name_or_path == "tiny":
            from spin.tiny.model import TinyModelSpec, build_tiny_model

            corpus = []
            for name in (Prepare.SFT, Prepare.PROMPTS, Prepare.HELDOUT):
                path = ctx.inputs["data"] / name
                if path.exists():
                    corpus += [f"{r['prompt']} {r['real']}" for r in read_jsonl(path)]
            spec = TinyModelSpec(
                vocab_size=cfg.vocab_size,
                hidden_size=cfg.hidden_size,
                num_hidden_layers=cfg.num_hidden_layers,
                num_attention_heads=cfg.num_attention_heads,
                intermediate_size=2 * cfg.hidden_size,
                seed=self.seed,
            )
            build_tiny_model(ctx.workdir / self.MODEL, corpus, spec)
            return {"model": "tiny", "parameters": _count_parameters(ctx.workdir / self.MODEL)}
        if (
            cfg.name_or_path.startswith(("/", ".", "~"))
            and not Path(cfg.name_or_path).expanduser().exists()
        ):
            raise SpinError(f"model path not found: {cfg.name_or_path} (model.name_or_path)")
        if Path(cfg.name_or_path).exists():
            path = Path(cfg.name_or_path).resolve()
            if not (path / "config.json").exists():
                raise SpinError(f"model path {path} has no config.json: not a checkpoint")
            _link_model(ctx.workdir, path)
            return {"model_path": str(path)}
        from spin.data import fetch_model

        path = fetch_model(cfg.name_or_path, cfg.revision)
        _link_model(ctx.workdir, Path(path))
        return {"model_path": path, "revision": cfg.revision}


def _link_model(workdir: Path, target: Path) -> None:
    """`<stage>/model` -> the checkpoint, as the stages that train one have: every later
    command names `<stage>/model`, known before this stage runs (spin plan prints it)."""
    link = workdir / ModelStage.MODEL
    if link.is_symlink():
        link.unlink()
    link.symlink_to(target.resolve(), target_is_directory=True)


def _count_parameters(path: Path) -> int:
    from transformers import AutoConfig, AutoModelForCausalLM

    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path))
    return sum(p.numel() for p in model.parameters())
