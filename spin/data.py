"""Data lineage: where prompts and real responses come from, and how pairs and triplets
are assembled from generations.

Records are plain dicts in JSONL: {"idx", "prompt", "real"} for SPIN prompts,
{"idx", "prompt", "real", "generated"} for pairs, plus "proto" for triplets.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

from spin.errors import DataError

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- sources


def ultrachat_first_turns(rows, *, source: str = "ultrachat_200k") -> list[dict]:
    """(prompt, real) from each conversation's first user turn and first assistant reply,
    as the SPIN paper built its 50k set. `rows` iterates dicts with a `messages` list."""
    out = []
    for i, row in enumerate(rows):
        messages = row.get("messages")
        if not isinstance(messages, list) or len(messages) < 2:
            raise DataError(
                source,
                "expected a 'messages' list with at least two turns",
                line=i + 1,
                field="messages",
            )
        user, assistant = messages[0], messages[1]
        if not (isinstance(user, dict) and isinstance(assistant, dict)):
            raise DataError(
                source, "turns must be objects with role and content", line=i + 1, field="messages"
            )
        if user.get("role") != "user" or assistant.get("role") != "assistant":
            raise DataError(
                source, "first two turns must be user then assistant", line=i + 1, field="messages"
            )
        prompt, real = user.get("content", ""), assistant.get("content", "")
        for field, value in (("messages[0].content", prompt), ("messages[1].content", real)):
            if not isinstance(value, str):
                raise DataError(
                    source, f"expected text, got {type(value).__name__}", line=i + 1, field=field
                )
        if not prompt.strip():
            raise DataError(source, "empty prompt", line=i + 1, field="messages[0].content")
        if not real.strip():
            raise DataError(source, "empty response", line=i + 1, field="messages[1].content")
        out.append({"prompt": prompt, "real": real, "prompt_id": row.get("prompt_id", str(i))})
    return out


def load_hub_or_local(path: str, *, split: str, revision: str | None = None):
    """A `datasets.Dataset` from a Hub id (pinned revision) or a local copy: a directory saved
    with `save_to_disk`, a folder of parquet/json files, or a single .jsonl/.parquet file."""
    from datasets import load_dataset, load_from_disk

    p = Path(path)
    if p.is_dir() and (p / "dataset_info.json").exists():
        return load_from_disk(str(p))
    if p.is_dir() and (p / split).is_dir() and (p / split / "dataset_info.json").exists():
        return load_from_disk(str(p / split))
    if p.is_file():
        kind = "parquet" if p.suffix == ".parquet" else "json"
        return load_dataset(kind, data_files={split: str(p)}, split=split)
    if p.is_dir():
        files = sorted(p.glob(f"**/{split}*.parquet")) or sorted(p.glob(f"**/{split}*.jsonl"))
        if not files:
            raise DataError(
                p, f"no files for split '{split}' (expected {split}*.parquet or {split}*.jsonl)"
            )
        kind = "parquet" if files[0].suffix == ".parquet" else "json"
        return load_dataset(kind, data_files={split: [str(f) for f in files]}, split=split)
    return load_dataset(path, split=split, revision=revision)


def fetch_model(name: str, revision: str | None) -> str:
    """A Hub model at a pinned commit, as the local folder of its snapshot (downloaded once
    into the Hub cache); SpinError naming the model and revision if it cannot be fetched."""
    from huggingface_hub import snapshot_download

    from spin.errors import SpinError

    try:
        return snapshot_download(name, revision=revision)
    except Exception as e:  # the Hub client raises many types; name the model and revision
        raise SpinError(f"cannot fetch model {name}@{revision}: {e}") from e


def sample_prompts(records: list[dict], n: int, seed: int) -> list[dict]:
    """A seeded sample of n records (all if n <= 0 or n >= len), with idx reassigned.
    Sorted by source position, so nested samples (same seed, smaller n) are not implied;
    use `nested_subsets` for those."""
    if 0 < n < len(records):
        chosen = sorted(random.Random(seed).sample(range(len(records)), n))
        records = [records[i] for i in chosen]
    return [{**r, "idx": i} for i, r in enumerate(records)]


def nested_subsets(records: list[dict], sizes: list[int], seed: int) -> dict[int, list[dict]]:
    """Subsets of the given sizes, each a subset of the next (one seeded permutation,
    prefixes of it): T-SPIN's 14k ⊂ 26k ⊂ 50k."""
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    out = {}
    for size in sorted(sizes):
        if size > len(records):
            raise DataError(
                "data.subset_sizes", f"subset {size} is larger than the {len(records)} prompts"
            )
        out[size] = [records[i] for i in sorted(order[:size])]
    return out


def spin_iter_pairs(rows, *, source: str) -> list[dict]:
    """Pairs from the released UCLA-AGI/SPIN_iter{t} sets: columns `real` and `generated`,
    each [{"role": "user", ...}, {"role": "assistant", ...}]. Duplicate rows (the early
    iter0 upload held each pair twice) are dropped and counted."""
    out, seen, dupes = [], set(), 0
    for i, row in enumerate(rows):
        for col in ("real", "generated"):
            msgs = row.get(col)
            if not isinstance(msgs, list) or len(msgs) < 2:
                raise DataError(
                    source, "expected [user, assistant] messages", line=i + 1, field=col
                )
        prompt = row["real"][0]["content"]
        real, generated = row["real"][1]["content"], row["generated"][1]["content"]
        if not real.strip():
            raise DataError(source, "empty response", line=i + 1, field="real")
        key = (prompt, real, generated)
        if key in seen:
            dupes += 1
            continue
        seen.add(key)
        out.append({"idx": len(out), "prompt": prompt, "real": real, "generated": generated})
    if dupes:
        log.warning("%s: dropped %d duplicate rows", source, dupes)
    return out


# ---------------------------------------------------------------- assembly


def assemble_pairs(
    generations: list[dict], *, iteration: int, source: str = "generations"
) -> list[dict]:
    """(prompt, real, generated) pairs from one iteration's generations."""
    pairs = []
    for line, g in enumerate(generations, start=1):
        for field in ("prompt", "real", "generated"):
            if field not in g:
                raise DataError(source, "missing field", line=line, field=field)
        if not str(g["real"]).strip():
            raise DataError(source, "empty real response", line=line, field="real")
        pairs.append(
            {
                "idx": g["idx"],
                "prompt": g["prompt"],
                "real": g["real"],
                "generated": g["generated"],
                "iteration": iteration,
            }
        )
    return pairs


def mix_iterations(current: list[dict], previous: list[dict] | None) -> list[dict]:
    """SPIN's data mixing: iteration t >= 1 trains on iteration t-1's pairs plus its own."""
    return (previous or []) + current


def assemble_triplets(
    generations: list[dict], protos: list[dict], *, source: str = "generations"
) -> list[dict]:
    """(prompt, real, generated, proto) triplets: y' from θt, y0 from θ0, matched by idx."""
    proto_by_idx = {p["idx"]: p["generated"] for p in protos}
    out = []
    for line, g in enumerate(generations, start=1):
        if g["idx"] not in proto_by_idx:
            raise DataError(
                source, f"no proto-synthetic response for idx {g['idx']}", line=line, field="idx"
            )
        out.append(
            {
                "idx": g["idx"],
                "prompt": g["prompt"],
                "real": g["real"],
                "generated": g["generated"],
                "proto": proto_by_idx[g["idx"]],
            }
        )
    return out
