"""The prepare stage: every data file later stages read, from the experiment's data block.

A file's record count is known from the config before anything runs (`spin plan` estimates
compute from it), so the stage hands out `Records`: a file name with its count, rather than
names that later code would have to parse.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

from spin.config import DataConfig
from spin.errors import DataError
from spin.io import read_jsonl, write_jsonl
from spin.pipeline.stage import Stage, StageContext

ULTRACHAT_SFT_CONVERSATIONS = 207_865
"""UltraChat200k's train_sft split: what data.num_sft = 0 (the whole split) means."""


@dataclass(frozen=True)
class Records:
    """A file of the prepare stage's output and how many records it holds."""

    file: str
    count: int


@dataclass(frozen=True, eq=False)
class Prepare(Stage):
    """Prompts and real responses: prompts.jsonl (SPIN's training prompts), heldout.jsonl
    (for dynamics), sft.jsonl (if an SFT stage needs it), eval.jsonl (tiny preset),
    subsets/N.jsonl (nested subsets), pairs_iterT.jsonl (released SPIN_iter data)."""

    kind: ClassVar[str] = "prepare"
    PROMPTS: ClassVar[str] = "prompts.jsonl"
    HELDOUT: ClassVar[str] = "heldout.jsonl"
    SFT: ClassVar[str] = "sft.jsonl"
    EVAL: ClassVar[str] = "eval.jsonl"
    """The tiny suite's questions (`spin eval tiny --data-dir` reads it)."""

    data: DataConfig
    seed: int
    need_sft: bool
    iterations: int
    """The most iterations of any arm: how many released SPIN_iter sets to fetch."""

    def params(self) -> dict:
        return {
            "data": asdict(self.data),
            "seed": self.seed,
            "need_sft": self.need_sft,
            "iterations": self.iterations,
        }

    def prompts(self) -> Records:
        return Records(self.PROMPTS, self.data.num_prompts)

    def heldout(self) -> Records:
        return Records(self.HELDOUT, self.data.num_eval)

    def sft_data(self) -> Records:
        return Records(self.SFT, self.data.num_sft or ULTRACHAT_SFT_CONVERSATIONS)

    def subset(self, size: int) -> Records:
        """The nested subset of `size` prompts (data.subset_sizes)."""
        return Records(f"subsets/{size}.jsonl", size)

    @staticmethod
    def released_pairs(t: int) -> str:
        """SPIN_iter{t}'s (real, generated) pairs, with data.source spin_iter."""
        return f"pairs_iter{t}.jsonl"

    def run(self, ctx: StageContext) -> dict:

        data, seed, out = self.data, self.seed, ctx.workdir
        counts: dict = {}
        if data.source == "tiny":
            from spin.tiny.tasks import make_items, split_items

            seed = seed if data.seed is None else data.seed
            num_spin = 0 if data.prompts_from_sft else data.num_prompts
            items = make_items(data.num_sft + num_spin + data.num_eval, seed, data.families or None)
            parts = split_items(
                items, {"sft": data.num_sft, "spin": num_spin, "eval": data.num_eval}, seed
            )
            if data.prompts_from_sft:  # the SFT part is shuffled: its head is a seeded sample
                parts["spin"] = parts["sft"][: data.num_prompts]
            counts["sft"] = write_jsonl(
                out / self.SFT, ({"prompt": r["prompt"], "real": r["answer"]} for r in parts["sft"])
            )
            prompts = [
                {"idx": i, "prompt": r["prompt"], "real": r["answer"], "family": r["family"]}
                for i, r in enumerate(parts["spin"])
            ]
            heldout = [
                {"idx": i, "prompt": r["prompt"], "real": r["answer"]}
                for i, r in enumerate(parts["eval"])
            ]
            counts["eval"] = write_jsonl(out / self.EVAL, parts["eval"])
        elif data.source == "ultrachat":
            from spin.data import sample_prompts, ultrachat_first_turns

            rows, test, where = _ultrachat_rows(data, seed)
            turns = ultrachat_first_turns(rows, source=where[0])
            prompts = sample_prompts(turns, data.num_prompts, seed)
            if self.need_sft:
                conversations = sample_prompts(
                    [{"messages": r["messages"]} for r in rows], data.num_sft, seed
                )
                counts["sft"] = write_jsonl(out / self.SFT, conversations)
            heldout = sample_prompts(
                ultrachat_first_turns(test, source=where[1]), data.num_eval, seed
            )
            if where[0] == where[1]:
                counts["heldout_from"] = f"{data.num_eval} conversations held out of {data.path}"
        else:  # spin_iter: the released pairs replace our generation
            from spin.data import load_hub_or_local, spin_iter_pairs

            revisions = data.spin_iter_revisions
            for t in range(self.iterations):
                repo = data.spin_iter_repo.format(iteration=t)
                rev = revisions[t] if t < len(revisions) else None
                pairs = spin_iter_pairs(
                    load_hub_or_local(repo, split="train", revision=rev), source=repo
                )
                counts[f"pairs_iter{t}"] = write_jsonl(out / self.released_pairs(t), pairs)
                if t == 0:
                    prompts = [
                        {"idx": p["idx"], "prompt": p["prompt"], "real": p["real"]} for p in pairs
                    ]
                    test = spin_iter_pairs(
                        load_hub_or_local(repo, split="test", revision=rev),
                        source=f"{repo}:test",
                    )
                    heldout = [
                        {"idx": p["idx"], "prompt": p["prompt"], "real": p["real"]} for p in test
                    ][: data.num_eval]
        counts["prompts"] = write_jsonl(out / self.PROMPTS, prompts)
        counts["heldout"] = write_jsonl(out / self.HELDOUT, heldout)
        if data.subset_sizes:
            from spin.data import nested_subsets

            for size, subset in nested_subsets(prompts, data.subset_sizes, seed).items():
                write_jsonl(
                    out / self.subset(size).file, [{**r, "idx": i} for i, r in enumerate(subset)]
                )
        return counts


def _ultrachat_rows(data: DataConfig, seed: int) -> tuple[list, list, tuple[str, str]]:
    """Training and held-out conversations, and where each came from (for error messages).

    From the Hub or a folder with split files: `split` and `eval_split`. From one local file
    (or one saved dataset) both splits would be the same rows, making the held-out set the
    training prompts, so a seeded num_eval of its conversations is held out of training.
    """
    from spin.data import load_hub_or_local, ultrachat_first_turns

    p = Path(data.path)
    if not (p.is_file() or (p.is_dir() and (p / "dataset_info.json").exists())):
        rows = load_hub_or_local(data.path, split=data.split, revision=data.revision)
        test = load_hub_or_local(data.path, split=data.eval_split, revision=data.revision)
        return rows, test, (f"{data.path}:{data.split}", f"{data.path}:{data.eval_split}")
    if p.suffix in (".jsonl", ".json") and p.is_file():
        rows = read_jsonl(p, required=["messages"])  # errors name the line
    else:
        rows = list(load_hub_or_local(data.path, split=data.split))
    if not rows:
        raise DataError(p, "has no conversations (data.path)")
    ultrachat_first_turns(rows, source=str(p))  # check every row where its line is known
    if not 0 < data.num_eval < len(rows):
        raise DataError(
            p,
            f"has {len(rows)} conversations: one file cannot give data.num_eval="
            f"{data.num_eval} held-out ones and keep some for training (set "
            "data.num_eval, or give a folder with split files)",
        )
    held = set(random.Random(seed).sample(range(len(rows)), data.num_eval))
    train = [r for i, r in enumerate(rows) if i not in held]
    return train, [rows[i] for i in sorted(held)], (str(p), str(p))
