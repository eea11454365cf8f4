"""The self-play data stages: Generate (a model's responses to a prepared file, y′ or y0)
and Pairs (this iteration's training data: SPIN's pairs or T-SPIN's triplets)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

from spin.config import GenerationConfig
from spin.io import read_jsonl, write_jsonl
from spin.pipeline.stage import Stage, StageContext, run_argv
from spin.pipeline.stages.data import Prepare, Records
from spin.pipeline.stages.models import ModelStage, model_path


@dataclass(frozen=True, eq=False)
class Generate(Stage):
    """Responses of the input model to every prompt of a prepared file (resumable).

    With more than one GPU, one `spin generate` process per GPU (or per group of
    tensor_parallel_size GPUs) on disjoint shards, merged by idx into the same file one
    process writes (spin.generate.data_parallel); SPIN_GENERATE_PROCESSES overrides the
    count. On a CPU, one process: this one."""

    kind: ClassVar[str] = "generate"
    INPUTS: ClassVar[tuple[str, ...]] = ("model", "data")
    OUTPUT: ClassVar[str] = "generations.jsonl"
    """Each input record plus "generated"."""

    config: GenerationConfig
    records: Records
    dtype: str
    model: ModelStage
    data: Prepare

    def params(self) -> dict:
        return {"generation": asdict(self.config), "file": self.records.file, "dtype": self.dtype}

    def argv(self, ctx: StageContext) -> list[str]:
        """`spin generate` with the stage's GenerationConfig, on its input file."""
        from spin.generate.command import options

        return [
            "spin",
            "generate",
            "--model",
            model_path(ctx.inputs["model"]),
            "--input",
            str(ctx.inputs["data"] / self.records.file),
            "--output",
            str(ctx.workdir / self.OUTPUT),
            *options(self.config, dtype=self.dtype, seed=ctx.seed),
        ]

    def run(self, ctx: StageContext) -> dict:
        from spin.generate import data_parallel

        cfg, argv = self.config, self.argv(ctx)
        out = ctx.workdir / self.OUTPUT
        processes = data_parallel.process_count(cfg.tensor_parallel_size)
        data_parallel.check_resumable(out, processes)
        if processes > 1:  # the same command once per GPU, each with --shard K/N
            model, src = argv[argv.index("--model") + 1], Path(argv[argv.index("--input") + 1])
            generated = data_parallel.launch(
                model,
                src,
                out,
                processes,
                argv[argv.index("--output") + 2 :],
                align=data_parallel.batch_alignment(cfg),
                gpus_per_shard=cfg.tensor_parallel_size,
            )
        else:
            before = len(read_jsonl(out)) if out.exists() else 0
            run_argv(argv)
            generated = len(read_jsonl(out)) - before
        records = read_jsonl(out)
        empty = sum(1 for r in records if not r["generated"].strip())
        identical = sum(
            1 for r in records if r["generated"].strip() == str(r.get("real", "")).strip()
        )
        return {
            "records": len(records),
            "generated_now": generated,
            "processes": processes,
            "empty": empty,
            "identical_to_real": identical,
        }


@dataclass(frozen=True, eq=False)
class Pairs(Stage):
    """This iteration's training data: pairs (SPIN; mixed with the previous iteration's
    pairs) or triplets (T-SPIN; with θ0's y0). Writes own.jsonl (this iteration's) and
    train.jsonl (what the trainer sees)."""

    kind: ClassVar[str] = "pairs"
    INPUTS: ClassVar[tuple[str, ...]] = ("generations", "proto", "previous")
    OWN: ClassVar[str] = "own.jsonl"
    TRAIN: ClassVar[str] = "train.jsonl"

    form: str
    """pairs | triplets (the method record's data)."""
    iteration: int
    mix_previous: bool
    """Train on this iteration's pairs and the previous iteration's (SPIN)."""
    released: bool
    """y′ from the released SPIN_iter data (the prepare stage's pairs_iterT.jsonl)."""
    prompts: Records
    """The prompts y′ answers: sizes the compute estimate only, not part of the key."""
    generations: Generate | Prepare
    proto: Generate | None = None
    """θ0's generations on the same prompts (y0): triplets only."""
    previous: Pairs | None = None

    def params(self) -> dict:
        params = {"kind": self.form, "iteration": self.iteration, "mix_previous": self.mix_previous}
        if self.released:
            params["released"] = Prepare.released_pairs(self.iteration)
        return params

    @property
    def examples(self) -> int:
        """What the trainer sees: this iteration's, and the previous iteration's if mixed."""
        return self.prompts.count * (2 if self.previous is not None else 1)

    @property
    def sequences(self) -> int:
        return 2 if self.form == "pairs" else 3

    def run(self, ctx: StageContext) -> dict:
        from spin.data import assemble_pairs, assemble_triplets, mix_iterations

        name = Prepare.released_pairs(self.iteration) if self.released else Generate.OUTPUT
        gen_file = ctx.inputs["generations"] / name
        generations = read_jsonl(gen_file, required=["idx", "prompt", "real", "generated"])
        if self.form == "triplets":
            protos = read_jsonl(ctx.inputs["proto"] / Generate.OUTPUT)
            own = assemble_triplets(generations, protos, source=str(gen_file))
        else:
            own = assemble_pairs(generations, iteration=self.iteration, source=str(gen_file))
        previous = (
            read_jsonl(ctx.inputs["previous"] / self.OWN) if self.previous is not None else None
        )
        train = mix_iterations(own, previous) if self.mix_previous else own
        write_jsonl(ctx.workdir / self.OWN, own)
        write_jsonl(ctx.workdir / self.TRAIN, train)
        return {
            "own": len(own),
            "train": len(train),
            "mixed_previous": previous is not None and self.mix_previous,
        }
