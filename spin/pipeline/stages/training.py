"""The training stages: SFT (θ0 in the tiny preset, or a continued-SFT epoch) and Train
(θt -> θt+1 on pairs or triplets). The command is the stage: each builds its dataset in
its work folder, then runs its one `spin train` argv, in this process or under
`accelerate launch`, exactly as `spin plan --commands` prints it.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

from spin.config import SFTConfig, TrainingConfig
from spin.io import built_once, read_jsonl
from spin.method import by_trainer
from spin.pipeline.stage import StageContext, run_argv
from spin.pipeline.stages.data import Prepare, Records
from spin.pipeline.stages.generation import Pairs
from spin.pipeline.stages.models import ModelStage, model_path

PROJECT_ROOT = Path(__file__).resolve().parents[3]
"""Where replication/accelerate/ lives: relative accelerate configs are looked up here."""


@dataclass(frozen=True)
class Workload:
    """What a training stage computes, for `spin plan`'s compute and memory estimates."""

    examples: int
    epochs: float
    sequences: int
    """Sequences per example: 1 (SFT), 2 (pairs), 3 (triplets)."""
    gradient_checkpointing: bool
    reference_forward: bool = False


@dataclass(frozen=True, eq=False)
class Training(ModelStage):
    """What SFT and Train share: the dataset folder, the `spin train` argv and its result.
    A subclass has `trainer` (the --method), `config`, `dtype` and a `model` input."""

    DATASET: ClassVar[str] = "dataset"
    RESULT: ClassVar[str] = "train_result.json"

    def argv(self, ctx: StageContext) -> list[str]:
        """`spin train` on the dataset the stage builds in workdir/dataset; `accelerate
        launch ... -m spin.cli train ...` with launcher accelerate."""
        cmd = train_command(
            self.trainer,
            model_path(ctx.inputs["model"]),
            ctx.workdir / self.DATASET,
            ctx.workdir,
            self.config,
            ctx.seed,
            self.dtype,
        )
        if self.config.launcher == "accelerate":
            return cmd
        return ["spin", *cmd[cmd.index("spin.cli") + 1 :]]

    def train(self, ctx: StageContext) -> dict:
        """Run argv(); the loss at the end and at every logging step (what the stored-loss
        test pins)."""
        run_argv(self.argv(ctx))
        result = json.loads((ctx.workdir / self.RESULT).read_text())
        history = result.get("log_history", [])
        final = next((e["train_loss"] for e in reversed(history) if "train_loss" in e), None)
        return {"final_loss": final, "losses": [e["loss"] for e in history if "loss" in e]}


@dataclass(frozen=True, eq=False)
class SFT(Training):
    """SFT from the input model on a prepared file: θ0 in the tiny preset, a rebuilt
    zephyr-7b-sft-full (full conversations), or one epoch of the continued-SFT baseline."""

    kind: ClassVar[str] = "sft"
    INPUTS: ClassVar[tuple[str, ...]] = ("model", "data")
    trainer: ClassVar[str] = "sft"

    config: SFTConfig
    records: Records
    prompt_format: str
    dtype: str
    model: ModelStage
    data: Prepare

    def params(self) -> dict:
        return {
            "sft": asdict(self.config),
            "file": self.records.file,
            "prompt_format": self.prompt_format,
            "dtype": self.dtype,
        }

    def workload(self) -> Workload:
        return Workload(
            self.records.count, self.config.num_train_epochs, 1, self.config.gradient_checkpointing
        )

    def run(self, ctx: StageContext) -> dict:
        from transformers import AutoTokenizer

        from spin.train.dataset import build_dataset

        cfg, start = self.config, model_path(ctx.inputs["model"])
        path = ctx.inputs["data"] / self.records.file
        if _is_chat(path):  # full conversations (rebuilding zephyr-7b-sft-full): TRL templates
            records = read_jsonl(path, required=["messages"], nonempty=["messages"])
        else:
            records = read_jsonl(path, required=["prompt", "real"], nonempty=["prompt", "real"])

        def build(out: Path) -> None:
            tokenizer = AutoTokenizer.from_pretrained(start)
            if records and "messages" in records[0]:
                from spin.train.sft import conversation_texts

                conversation_texts(records, tokenizer, cfg).save_to_disk(str(out))
            else:
                build_dataset(
                    records,
                    tokenizer,
                    kind="sft",
                    prompt_format=self.prompt_format,
                    max_prompt_length=cfg.max_length // 2,
                    out_dir=out,
                )

        built_once(ctx.workdir / self.DATASET, build)
        return {"examples": len(records), **self.train(ctx)}


def _is_chat(path: Path) -> bool:
    with path.open() as f:
        first = f.readline()
    return bool(first) and "messages" in json.loads(first)


@dataclass(frozen=True, eq=False)
class Train(Training):
    """θt -> θt+1 on the pairs or triplets, reference θt (SPIN, T-SPIN_ref) or none (T-SPIN)."""

    kind: ClassVar[str] = "train"
    INPUTS: ClassVar[tuple[str, ...]] = ("model", "pairs")

    config: TrainingConfig
    """The iteration's resolved config (β as the method sets it at this iteration)."""
    trainer: str
    """The method record's trainer: spin | tspin | tspin_ref."""
    dtype: str
    model: ModelStage
    pairs: Pairs

    def params(self) -> dict:
        return {"method": self.trainer, "training": asdict(self.config), "dtype": self.dtype}

    def workload(self) -> Workload:
        return Workload(
            self.pairs.examples,
            self.config.num_train_epochs,
            self.pairs.sequences,
            self.config.gradient_checkpointing,
            by_trainer(self.trainer).needs_reference,
        )

    def run(self, ctx: StageContext) -> dict:
        from transformers import AutoTokenizer

        from spin.train.dataset import build_dataset

        cfg, start = self.config, model_path(ctx.inputs["model"])
        records = read_jsonl(ctx.inputs["pairs"] / Pairs.TRAIN)
        stats = {"examples": len(records)}
        stats.update(
            built_once(
                ctx.workdir / self.DATASET,
                lambda out: build_dataset(
                    records,
                    AutoTokenizer.from_pretrained(start),
                    kind=by_trainer(self.trainer).data,
                    prompt_format=cfg.prompt_format,
                    max_prompt_length=cfg.max_prompt_length,
                    out_dir=out,
                    layout=cfg.layout,
                ),
            )
        )
        return {**stats, **self.train(ctx)}


def train_command(
    method: str,
    start,
    dataset_dir,
    out,
    cfg: SFTConfig | TrainingConfig,
    seed: int,
    dtype: str,
    accelerate_config: str | Path | None = None,
) -> list[str]:
    """The `accelerate launch ... spin train ...` command line for one training stage, with
    cfg's accelerate config unless another is given. A relative accelerate config is looked
    up from the working directory, then from the project root."""
    config = Path(cfg.accelerate_config if accelerate_config is None else accelerate_config)
    if not config.is_absolute():
        config = config.resolve() if config.exists() else PROJECT_ROOT / config
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(config),
        "-m",
        "spin.cli",
        "train",
        "--method",
        method,
        "--model",
        str(start),
        "--data",
        str(dataset_dir),
        "--output-dir",
        str(out),
        "--config-json",
        json.dumps(asdict(cfg), sort_keys=True),
        "--seed",
        str(seed),
        "--dtype",
        dtype,
    ]
