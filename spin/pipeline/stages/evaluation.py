"""The measuring stages: Dynamics (rewards and log-likelihoods after an iteration) and Eval
(a checkpoint on a suite). Both write JSON that reports read; neither writes a report."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from spin.config import DynamicsConfig, EvalConfig, TrainingConfig
from spin.io import read_jsonl
from spin.method import by_trainer
from spin.pipeline.stage import Stage, StageContext, run_argv
from spin.pipeline.stages.data import Prepare
from spin.pipeline.stages.generation import Generate, Pairs
from spin.pipeline.stages.models import ModelStage, model_path


@dataclass(frozen=True, eq=False)
class Dynamics(Stage):
    """Rewards and log-likelihoods of y, y′ and y0 under θt+1 (the paper's Figures 3, 7),
    on a sample of the training data and on held-out prompts."""

    kind: ClassVar[str] = "dynamics"
    INPUTS: ClassVar[tuple[str, ...]] = (
        "policy",
        "reference",
        "pairs",
        "heldout",
        "heldout_proto",
        "proto",
    )
    OUTPUT: ClassVar[str] = "dynamics.json"
    """Rewards and log-likelihoods (spin-dynamics/1)."""

    trainer: str
    arm: str
    iteration: int
    config: TrainingConfig
    """The iteration's training config: the loss's α, β and the token layout it scored."""
    dtype: str
    limits: DynamicsConfig
    micro: bool
    policy: ModelStage
    """θt+1."""
    reference: ModelStage
    """θt."""
    pairs: Pairs
    heldout: Generate
    """θt's generations on the held-out prompts."""
    heldout_proto: Generate
    """θ0's generations on the held-out prompts (y0)."""
    proto: Generate | None = None
    """θ0's generations on the training prompts (y0)."""

    def params(self) -> dict:
        cfg = self.config
        return {
            "method": self.trainer,
            "arm": self.arm,
            "iteration": self.iteration,
            "alpha": cfg.alpha,
            "beta": cfg.beta,
            "prompt_format": cfg.prompt_format,
            "max_prompt_length": cfg.max_prompt_length,
            "reduction": cfg.logp_reduction,
            "max_length": cfg.max_length,
            "layout": cfg.layout,
            "dtype": self.dtype,
            "max_train": self.limits.max_train,
            "max_heldout": self.limits.max_heldout,
            **({"micro": True} if self.micro else {}),
        }

    def run(self, ctx: StageContext) -> dict:
        from transformers import AutoTokenizer

        from spin.dynamics import measure, write_dynamics

        cfg = self.config
        policy = model_path(ctx.inputs["policy"])
        needs_reference = by_trainer(self.trainer).needs_reference
        reference = model_path(ctx.inputs["reference"]) if needs_reference else None
        tokenizer = AutoTokenizer.from_pretrained(policy)
        train_records = read_jsonl(ctx.inputs["pairs"] / Pairs.OWN)[: self.limits.max_train]
        protos = _generated(ctx.inputs["proto"]) if "proto" in ctx.inputs else {}
        heldout_protos = _generated(ctx.inputs["heldout_proto"])
        heldout = read_jsonl(ctx.inputs["heldout"] / Generate.OUTPUT)[: self.limits.max_heldout]
        splits = {}
        for name, records, proto_map in (
            ("train", train_records, protos),
            ("heldout", heldout, heldout_protos),
        ):
            records = [{**r, "proto": r.get("proto", proto_map.get(r["idx"]))} for r in records]
            if any(r["proto"] is None for r in records):
                records = [{k: v for k, v in r.items() if k != "proto"} for r in records]
            splits[name] = measure(
                policy,
                records,
                tokenizer,
                method=self.trainer,
                reference_path=reference,
                alpha=cfg.alpha,
                beta=cfg.beta,
                prompt_format=cfg.prompt_format,
                max_prompt_length=cfg.max_prompt_length,
                reduction=cfg.logp_reduction,
                max_length=cfg.max_length,
                layout=cfg.layout,
                dtype=self.dtype,
            )
        write_dynamics(
            ctx.workdir / self.OUTPUT,
            method=self.trainer,
            arm=self.arm,
            iteration=self.iteration,
            seed=ctx.seed,
            splits=splits,
            micro=self.micro,
        )
        return {
            name: {k: v for k, v in s.items() if k in ("n", "mismatch_share")}
            for name, s in splits.items()
        }


def _generated(stage_dir: Path) -> dict:
    """idx -> generated response, of a generate stage's output."""
    return {r["idx"]: r["generated"] for r in read_jsonl(stage_dir / Generate.OUTPUT)}


@dataclass(frozen=True, eq=False)
class Eval(Stage):
    """Score a checkpoint on a suite; writes results in the results schema. The model block
    is left 'pending' and filled in by the runner's publish step, so that renaming an arm
    does not re-evaluate its checkpoints."""

    kind: ClassVar[str] = "eval"
    INPUTS: ClassVar[tuple[str, ...]] = ("model", "data")

    suite: str
    config: EvalConfig
    model: ModelStage
    data: Prepare | None = None
    """The tiny suite's questions (the prepared eval.jsonl); other suites read the Hub or
    config.data_dir."""
    fastchat_model_id: str = ""
    """MT-Bench only: the model id FastChat picks its conversation template by, as
    gen_model_answer's --model-id (the recipe's model, e.g. alignment-handbook/zephyr-7b-
    sft-full: FastChat's zephyr template). A checkpoint's folder name ("model") would get
    FastChat's one_shot fallback."""

    @property
    def results_file(self) -> str:
        return f"{self.suite}.json"

    @property
    def data_dir(self) -> str:
        """The local copy of the suite's data; empty: the Hub (or, tiny, the run's own)."""
        if self.config.data_dir and self.suite != "tiny":
            return str(Path(self.config.data_dir).resolve())
        return ""

    def params(self) -> dict:
        params = {
            "suite": self.suite,
            "backend": self.config.backend,
            "batch_size": self.config.batch_size,
            "limit": self.config.limit,
        }
        if self.data_dir:  # only when set: the keys of Hub evaluations stay as they were
            params["data_dir"] = self.data_dir
        if self.suite == "mt-bench":  # the prompts' template depends on it
            params["fastchat_model_id"] = self.fastchat_model_id
        return params

    def argv(self, ctx: StageContext) -> list[str]:
        """`spin eval SUITE` on the input model; the tiny suite reads the prepared eval.jsonl."""
        cfg, path = self.config, model_path(ctx.inputs["model"])
        return [
            "spin",
            "eval",
            self.suite,
            "--model",
            path,
            "--backend",
            cfg.backend,
            "--output-dir",
            str(ctx.workdir),
            "--seed",
            str(ctx.seed),
            "--batch-size",
            str(cfg.batch_size),
            *(["--limit", str(cfg.limit)] if cfg.limit else []),
            *(["--data-dir", str(ctx.inputs["data"])] if self.suite == "tiny" else []),
            *(["--data-dir", self.data_dir] if self.data_dir else []),
            "--model-name",
            Path(path).name,
            *(["--fastchat-model-id", self.fastchat_model_id] if self.suite == "mt-bench" else []),
            "--method",
            "pending",
            "--base-model",
            "pending",
        ]

    def run(self, ctx: StageContext) -> dict:
        run_argv(self.argv(ctx))
        payload = json.loads((ctx.workdir / self.results_file).read_text())
        return {"results_file": self.results_file, "average": payload.get("average")}
