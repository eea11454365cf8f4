"""Reading results and training-dynamics JSON files, checked against their schemas.

A results directory is searched recursively for ``*.json`` and ``*.jsonl``; each file is
dispatched on its content: ``spin-results/1`` (DESIGN.md) and ``spin-dynamics/1`` are read;
stock lm-eval results, Open LLM Leaderboard v1 results and FastChat MT-Bench judgments are
imported (spin.report.imports), except the harness outputs a spin-results file already stands
for (its provenance names them: ``lm_eval_results_file``, ``judgments_file``, ...); other JSON
(run.json, manifests) is skipped and counted, and any other ``spin-*`` schema is an error,
because it is most likely a results file we cannot read.

Several files may share a model name (several seeds). They are pooled per
(model, suite, task) only when they ran on the same data (the same n and, where both record
one, the same ``data_sha256``) with different seeds; anything else is an error naming both
files, because averaging two datasets or one run twice is not a seed mean. ``value`` is the
mean over seeds, ``spread`` the sample standard deviation across seeds, and ``stderr`` =
sqrt(mean(stderr_i^2) + spread^2 / k). The first term is the evaluation's sampling error
(every seed is scored on the same documents, so it does not shrink with k); the second is the
uncertainty of the seed mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from spin.errors import DataError
from spin.report.schema import (  # noqa: F401  (re-exported: results.load_results etc.)
    RESULTS_SCHEMA,
    _number,
    load_results,
    read_json,
    validate_results,
)

DYNAMICS_SCHEMA = "spin-dynamics/1"
DYNAMICS_KEYS = (
    "reward_real",
    "reward_generated",
    "reward_proto",
    "logp_real",
    "logp_generated",
    "logp_proto",
    "mismatch_share",
)


@dataclass
class Scan:
    """What a results directory holds."""

    results: list[dict] = field(default_factory=list)
    dynamics: list[dict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # JSON files in no results format
    imported: list[str] = field(default_factory=list)  # foreign formats converted on reading
    covered: list[str] = field(default_factory=list)  # harness outputs of a spin-results file
    unusable: list[str] = field(default_factory=list)  # foreign files that failed to convert: why


def validate_dynamics(obj: dict, path: str | Path) -> dict:
    """Check a spin-dynamics/1 object: method, iteration and per-split numeric means."""
    if not isinstance(obj.get("method"), str):
        raise DataError(path, "missing or not a string", field="method")
    it = obj.get("iteration")
    if not isinstance(it, int) or isinstance(it, bool):
        raise DataError(path, f"not an integer: {it!r}", field="iteration")
    splits = obj.get("splits")
    if not isinstance(splits, dict) or not splits:
        raise DataError(path, "missing or empty", field="splits")
    for split, values in splits.items():
        if not isinstance(values, dict):
            raise DataError(path, "not an object", field=f"splits.{split}")
        for key in DYNAMICS_KEYS:
            v = values.get(key)
            if v is not None and not _number(v):
                raise DataError(path, f"not a number or null: {v!r}", field=f"splits.{split}.{key}")
    return {**obj, "_path": str(path)}


_HARNESS_OUTPUTS = (
    "samples_file",
    "lm_eval_results_file",
    "lm_eval_samples_file",
    "judgments_file",
    "answers_file",
)


def _covered(results: list[dict]) -> set[Path]:
    """Harness outputs that spin-results files name in their provenance (resolved paths)."""
    out = set()
    for r in results:
        prov = r.get("provenance") or {}
        for key in _HARNESS_OUTPUTS:
            if isinstance(prov.get(key), str) and prov[key]:
                p = Path(prov[key])
                out.add((p if p.is_absolute() else Path(r["_path"]).parent / p).resolve())
    return out


def scan(results_dir: str | Path) -> Scan:
    """Read every results and dynamics file below `results_dir` (sorted, so output is stable),
    importing the foreign formats spin.report.imports accepts."""
    from spin.report import imports

    root = Path(results_dir)
    if not root.is_dir():
        raise DataError(root, "results directory not found")
    out = Scan()
    foreign: list[Path] = []
    for path in sorted(root.rglob("*.json")):
        obj = read_json(path)
        schema = obj.get("schema") if isinstance(obj, dict) else None
        if schema == RESULTS_SCHEMA:
            out.results.append(validate_results(obj, path))
        elif schema == DYNAMICS_SCHEMA:
            out.dynamics.append(validate_dynamics(obj, path))
        elif isinstance(schema, str) and schema.startswith("spin-"):
            raise DataError(
                path,
                f"unknown schema {schema!r} (expected '{RESULTS_SCHEMA}' or '{DYNAMICS_SCHEMA}')",
                field="schema",
            )
        elif imports.detect_object(obj) is not None:
            foreign.append(path)
        else:
            out.skipped.append(str(path))
    foreign += [
        p for p in sorted(root.rglob("*.jsonl")) if imports.is_judgment(imports.first_record(p))
    ]
    covered = _covered(out.results)
    for path in foreign:
        if path.resolve() in covered:
            out.covered.append(str(path))
            continue
        try:
            out.results += imports.load_any(path)
        except DataError as e:  # e.g. lm-eval results of tasks no suite has: said, not fatal
            out.unusable.append(str(e))
            continue
        out.imported.append(str(path))
    refuse_mixed_micro(root, out.results + out.dynamics)
    return out


def is_micro(obj: dict) -> bool:
    """Whether a results or dynamics object comes from a `spin run --micro` run."""
    return bool(obj.get("micro") or (obj.get("model") or {}).get("micro"))


def refuse_mixed_micro(root: str | Path, objs: list[dict]) -> None:
    """`spin run --micro` outputs (random models) never share a report with real results."""
    kinds = {is_micro(o): o["_path"] for o in objs}
    if len(kinds) == 2:
        raise DataError(
            root,
            f"mixes micro-run results ({kinds[True]}) with real results "
            f"({kinds[False]}); report them from separate folders",
        )


def to_frame(results: list[dict]) -> pd.DataFrame:
    """One row per (results file, task), plus an 'average' row when the file has one.

    A missing average stderr is derived from the task stderrs (independent tasks) when every
    task has one and the average is the plain mean of those tasks.
    """
    rows = []
    for r in results:
        m, prov = r["model"], r.get("provenance", {})
        base = {
            "name": m["name"],
            "method": m["method"],
            "iteration": m.get("iteration"),
            "base_model": m["base_model"],
            "train_examples": m.get("train_examples"),
            "seed": m.get("seed", prov.get("seed")),
            "suite": r["suite"],
            "path": r["_path"],
        }
        for task, t in r["tasks"].items():
            rows.append(
                {
                    **base,
                    "benchmark": task,
                    "metric": t.get("metric"),
                    "value": float(t["value"]),
                    "stderr": t.get("stderr"),
                    "n": t.get("n"),
                    "shots": t.get("shots"),
                    "data_sha256": t.get("data_sha256"),
                }
            )
        if r.get("average") is not None:
            ses = [t.get("stderr") for t in r["tasks"].values()]
            vals = [t["value"] for t in r["tasks"].values()]
            se = None
            if all(s is not None for s in ses) and abs(sum(vals) / len(vals) - r["average"]) < 0.01:
                se = math.sqrt(sum(s * s for s in ses)) / len(ses)
            rows.append(
                {
                    **base,
                    "benchmark": "average",
                    "metric": "mean of the row",
                    "value": float(r["average"]),
                    "stderr": se,
                    "n": None,
                    "shots": None,
                    "data_sha256": None,
                }
            )
    cols = [
        "name",
        "method",
        "iteration",
        "base_model",
        "train_examples",
        "seed",
        "suite",
        "path",
        "benchmark",
        "metric",
        "value",
        "stderr",
        "n",
        "shots",
        "data_sha256",
    ]
    df = pd.DataFrame(rows, columns=cols)
    df["iteration"] = df["iteration"].astype("Int64")
    df["stderr"] = pd.to_numeric(df["stderr"]).astype(float)
    df["n"] = pd.to_numeric(df["n"]).astype("Int64")
    return df


def refuse_pooling_across_data(frame: pd.DataFrame) -> None:
    """Seeds of one model are pooled only on the same data, and only across different seeds.

    Per (name, suite, benchmark): every file must have the same n and, where two files both
    record one, the same data_sha256; two files with the same (non-null) seed are one run
    twice, not two seeds. Raises DataError naming the second file and the first.
    """
    for (name, suite, bench), g in frame.groupby(["name", "suite", "benchmark"], sort=False):
        if len(g) < 2:
            continue
        first = g.iloc[0]
        for _, r in g.iloc[1:].iterrows():
            why = None
            if not (pd.isna(r["n"]) and pd.isna(first["n"])) and (
                pd.isna(r["n"]) or pd.isna(first["n"]) or int(r["n"]) != int(first["n"])
            ):
                why = f"n={_na(r['n'])} here but n={_na(first['n'])} in {first['path']}"
            elif (
                r["data_sha256"]
                and first["data_sha256"]
                and r["data_sha256"] != first["data_sha256"]
            ):
                why = f"other documents (data_sha256) than {first['path']}"
            elif (
                not pd.isna(r["seed"]) and not pd.isna(first["seed"]) and r["seed"] == first["seed"]
            ):
                why = (
                    f"the same seed ({r['seed']}) as {first['path']}: one run twice, not two seeds"
                )
            if why:
                raise DataError(
                    r["path"],
                    f"model '{name}', {suite}/{bench}: {why}; seeds are pooled only for the "
                    "same model on the same data; give the runs different model names",
                    field=f"tasks.{bench}",
                )


def _na(x) -> str:
    return "?" if pd.isna(x) else str(int(x))


def aggregate(frame: pd.DataFrame) -> pd.DataFrame:
    """Aggregate seeds: one row per (name, suite, benchmark) with value, stderr, spread, n_seeds.

    Files sharing a model name must agree on method, iteration and base model; otherwise the
    later file is reported as an error, since silently mixing two models would be wrong.
    """
    if frame.empty:
        return frame.assign(spread=pd.Series(dtype=float), n_seeds=pd.Series(dtype=int))
    ident = ["method", "iteration", "base_model"]
    for name, g in frame.groupby("name", sort=False):
        firsts = g.drop_duplicates("path")
        for col in ident:
            if firsts[col].astype(str).nunique() > 1:
                bad = firsts.iloc[1]
                raise DataError(
                    bad["path"],
                    f"model '{name}' has a different {col} "
                    f"({bad[col]}) than {firsts.iloc[0]['path']}",
                    field=f"model.{col}",
                )
    refuse_pooling_across_data(frame)
    keys = ["name", "suite", "benchmark"]
    firsts = ["method", "iteration", "base_model", "train_examples", "metric", "n", "data_sha256"]
    g = frame.assign(se2=frame["stderr"] ** 2).groupby(keys, sort=False)
    out = g.agg(
        value=("value", "mean"),
        spread=("value", "std"),
        n_seeds=("value", "size"),
        se2=("se2", "mean"),
        n_se=("stderr", "count"),
        paths=("path", ";".join),
        **{c: (c, "first") for c in firsts},
    ).reset_index()
    out["spread"] = out["spread"].fillna(0.0)  # one seed: no spread
    k = out["n_seeds"]
    with_se = (out["se2"] + out["spread"] ** 2 / k) ** 0.5
    seeds_only = (out["spread"] / k**0.5).where(k > 1)  # no eval stderr: the seed-mean error alone
    out["stderr"] = with_se.where(out["n_se"] == k, seeds_only).astype(float)
    out["iteration"] = out["iteration"].astype("Int64")
    cols = [
        "name",
        *firsts[:4],
        "suite",
        "benchmark",
        "metric",
        "value",
        "stderr",
        "n",
        "data_sha256",
        "spread",
        "n_seeds",
        "paths",
    ]
    return out[cols]


def dynamics_frame(dynamics: list[dict], keys: tuple[str, ...] = DYNAMICS_KEYS) -> pd.DataFrame:
    """Long form of training dynamics: method, arm, iteration, seed, split, quantity, value,
    for the quantities `keys`; nulls and non-numbers (no y₀ for pairs) are left out."""
    rows = []
    for d in dynamics:
        for split, values in d["splits"].items():
            for key in keys:
                value = values.get(key)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    rows.append(
                        {
                            "method": d["method"],
                            "arm": d.get("arm", d["method"]),
                            "iteration": d["iteration"],
                            "seed": d.get("seed"),
                            "split": split,
                            "quantity": key,
                            "value": float(value),
                        }
                    )
    return pd.DataFrame(
        rows, columns=["method", "arm", "iteration", "seed", "split", "quantity", "value"]
    )
