"""The tiny study's analysis over seeds: the power statement, paired differences, stability
and training dynamics, as one Markdown report, one JSON file and one figure.

    python -m spin.tiny.study RUN_DIR [RUN_DIR ...] --output reports/tiny/study/study

Each run folder is one seed of replication/tiny-study.yaml (θ0, arms spin, tspin and
continued_sft). Differences are new − base in held-out exact-match points, paired by seed
(the same data, θ0 and held-out items); the suite average is the mean of its task
families, so per-item differences are weighted 1/(families · family size) to add up to it.

Two intervals per difference, because they answer different questions:
- over seeds (t interval, S − 1 degrees of freedom): would retraining the whole study
  with new seeds give the same sign? This is the study's answer;
- per-item paired bootstrap, items of all seeds pooled (spin compare's bootstrap): is the
  difference between these trained models larger than held-out sampling noise? It ignores
  training noise, so it is narrower.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from spin.io import write_json
from spin.report import bootstrap
from spin.summary import THETA0_ITERATION, load_results, set_iteration_axis

THETA0 = ("θ0", THETA0_ITERATION)
LABELS = {"θ0": "θ0", "spin": "SPIN", "tspin": "T-SPIN", "continued_sft": "continued SFT"}
TARGET = 1.5
"""The smallest paired difference the study must resolve (points, 95% confidence)."""


def t_quantile(df: int, level: float = 0.95) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + level / 2, df))


# ---------------------------------------------------------------- loading


def load_seed(run: Path, suite: str = "tiny") -> tuple[int, dict, dict]:
    """One run's seed, its averages {(arm, iteration): points} and its per-item weighted
    scores {(arm, iteration): Series over (task, doc_id)} whose sum is the average."""
    return _load(run, suite)[:3]


def family_table(runs: list[Path], suite: str = "tiny") -> pd.DataFrame:
    """Each model's accuracy per task family, mean over seeds: no family may be 0 for all."""
    rows = []
    for run in runs:
        for key, tasks in _load(run, suite)[3].items():
            rows.append({"arm": key[0], "iteration": key[1], **tasks})
    return pd.DataFrame(rows).groupby(["arm", "iteration"]).mean().reset_index()


def _load(run: Path, suite: str) -> tuple[int, dict, dict, dict]:
    accuracy, items, families, seeds = {}, {}, {}, set()
    for r in load_results(Path(run) / "results", suite):
        m = r["model"]
        key = (
            m.get("arm", "θ0"),
            THETA0_ITERATION if m.get("iteration") is None else m["iteration"],
        )
        seeds.add(m["seed"])
        accuracy[key] = float(r["average"])
        families[key] = {task: v["value"] for task, v in r["tasks"].items()}
        path = bootstrap.samples_path({**r, "_path": str(Path(run) / "results" / "x.json")})
        if path is None:
            continue
        s = bootstrap.read_samples(path)
        size = s.groupby("task")["score"].transform("size")
        s["weighted"] = 100.0 * s["score"] / (size * s["task"].nunique())
        items[key] = s.set_index(["task", "doc_id"])["weighted"].sort_index()
    if len(seeds) != 1:
        raise ValueError(f"{run}: expected one seed in its results, found {sorted(seeds)}")
    return seeds.pop(), accuracy, items, families


# ---------------------------------------------------------------- statistics


def over_seeds(values: list[float]) -> dict:
    """Mean, sample sd and the 95% t interval of the mean of per-seed values."""
    v = np.asarray(values, dtype=float)
    s = len(v)
    sd = float(v.std(ddof=1)) if s > 1 else float("nan")
    half = t_quantile(s - 1) * sd / math.sqrt(s) if s > 1 else float("nan")
    mean = float(v.mean())
    return {"mean": mean, "sd": sd, "ci_low": mean - half, "ci_high": mean + half, "seeds": s}


def paired(seeds: dict, new: tuple, base: tuple, resamples: int) -> dict | None:
    """new − base: over seeds, and the pooled per-item paired bootstrap; plus the variance
    parts the power statement uses (per-item variance within a seed, items per seed)."""
    common = [s for s, (acc, _) in seeds.items() if new in acc and base in acc]
    if not common:
        return None
    out = over_seeds([seeds[s][0][new] - seeds[s][0][base] for s in common])
    out["per_seed"] = {str(s): seeds[s][0][new] - seeds[s][0][base] for s in common}
    diffs, within, n = [], [], []
    for s in common:
        items = seeds[s][1]
        if new not in items or base not in items:
            continue
        a, b = items[new].align(items[base], join="inner")
        d = (a - b).to_numpy() * len(a)  # mean over items = the difference of averages
        diffs.append(d)
        within.append(float(d.var(ddof=1)))
        n.append(len(d))
    if diffs:
        mean, lo, hi = bootstrap.paired_ci(np.concatenate(diffs), resamples=resamples)
        out.update(
            item_mean=mean,
            item_ci_low=lo,
            item_ci_high=hi,
            item_variance=float(np.mean(within)),
            items=int(np.mean(n)),
        )
    return out


def detectable(sd_seed: float, seeds: int, level: float = 0.95) -> float:
    """The smallest mean paired difference whose 95% interval over `seeds` seeds excludes 0:
    t(0.975, S − 1) · sd / √S, sd the sd over seeds of the per-seed difference."""
    return t_quantile(seeds - 1, level) * sd_seed / math.sqrt(seeds)


def power(diff: dict, seeds_range=range(5, 11)) -> dict:
    """The variance parts of one paired difference and the detectable difference for S seeds
    at its own N items: var over seeds = σ²_train + σ²_item / N, σ²_item the per-item
    variance of the paired difference within a seed (measured), σ²_train what remains."""
    var_seed = diff["sd"] ** 2
    item = diff.get("item_variance", float("nan")) / diff.get("items", float("nan"))
    train = max(var_seed - item, 0.0)
    return {
        "var_over_seeds": var_seed,
        "var_items": item,
        "var_training": train,
        "detectable": {s: detectable(math.sqrt(train + item), s) for s in seeds_range},
    }


def stability(seeds: dict, arm: str, iterations: range) -> dict:
    """Iteration-to-iteration change of one method: per seed the mean |acc(t) − acc(t−1)|
    over `iterations` and the share of held-out items whose correctness flips; mean, sd, CI."""
    steps, flips = [], []
    for acc, items in seeds.values():
        keys = [(arm, t) for t in iterations]
        prev = [(arm, t - 1) if t > 0 else THETA0 for t in iterations]
        if not all(k in acc for k in keys + prev):
            continue
        steps.append(np.mean([abs(acc[k] - acc[p]) for k, p in zip(keys, prev, strict=True)]))
        if all(k in items for k in keys + prev):
            flips.append(
                np.mean(
                    [
                        100.0 * float((items[k] != items[p]).mean())
                        for k, p in zip(keys, prev, strict=True)
                    ]
                )
            )
    out = {"mean_abs_change": over_seeds(steps), "per_seed_abs_change": steps}
    if flips:
        out["flipped_items_pct"] = over_seeds(flips)
        out["per_seed_flipped_items_pct"] = flips
    return out


def dynamics_frame(runs: list[Path]) -> pd.DataFrame | None:
    """Mismatch share and log-likelihoods of y, y′, y₀ (summed and per token) per split, arm
    and iteration: mean and sd over seeds."""
    rows = []
    for run in runs:
        for path in sorted((Path(run) / "results" / "dynamics").glob("*.json")):
            d = json.loads(path.read_text())
            for split, s in d["splits"].items():
                rows.append(
                    {
                        "split": split,
                        "arm": d["arm"],
                        "iteration": d["iteration"],
                        "seed": d["seed"],
                        **{k: v for k, v in s.items() if k != "n"},
                    }
                )
    if not rows:
        return None
    df = pd.DataFrame(rows)
    cols = [c for c in df.columns if c.startswith(("mismatch", "logp")) and df[c].notna().any()]
    keys = ["split", "arm", "iteration"]
    g = df.groupby(keys)[cols].agg(["mean", "std"])
    g.columns = [f"{c} {stat}" for c, stat in g.columns]
    g.insert(0, "seeds", df.groupby(keys)["seed"].nunique())
    return g.reset_index()


# ---------------------------------------------------------------- report


def analyse(runs: list[Path], resamples: int = bootstrap.RESAMPLES) -> dict:
    seeds = {}
    for run in runs:
        seed, acc, items = load_seed(run)
        seeds[seed] = (acc, items)
    keys = sorted({k for acc, _ in seeds.values() for k in acc}, key=lambda k: (k[0], k[1]))
    iters = {a: sorted(t for b, t in keys if b == a) for a in ("spin", "tspin", "continued_sft")}
    comparisons = []
    for arm in ("spin", "tspin", "continued_sft"):
        for t in iters[arm]:
            comparisons.append((f"{LABELS[arm]} iter{t} − θ0", (arm, t), THETA0))
    for t in sorted(set(iters["spin"]) & set(iters["continued_sft"])):
        comparisons.append(
            (f"SPIN iter{t} − continued SFT iter{t}", ("spin", t), ("continued_sft", t))
        )
    for t in sorted(set(iters["spin"]) & set(iters["tspin"])):
        comparisons.append((f"T-SPIN iter{t} − SPIN iter{t}", ("tspin", t), ("spin", t)))
    diffs = {}
    for name, new, base in comparisons:
        d = paired(seeds, new, base, resamples)
        if d is not None:
            diffs[name] = d
    accuracy = {
        f"{LABELS[a]} iter{t}" if a != "θ0" else "θ0": over_seeds(
            [acc[(a, t)] for acc, _ in seeds.values() if (a, t) in acc]
        )
        | {"arm": a, "iteration": t}
        for a, t in keys
    }
    common = range(1, 1 + min(max(iters["spin"], default=0), max(iters["tspin"], default=0)))
    stable = {
        LABELS[a]: stability(seeds, a, common)
        for a in ("spin", "tspin", "continued_sft")
        if iters[a]
    }
    steadier = {}
    for key in ("per_seed_abs_change", "per_seed_flipped_items_pct"):
        a = stable.get("T-SPIN", {}).get(key, [])
        b = stable.get("SPIN", {}).get(key, [])
        if len(a) == len(b) and a:
            steadier[key.removeprefix("per_seed_")] = over_seeds(
                [x - y for x, y in zip(a, b, strict=True)]
            )
    return {
        "seeds": sorted(seeds),
        "run_order": list(seeds),
        "accuracy": accuracy,
        "differences": diffs,
        "power": {name: power(d) for name, d in diffs.items() if "items" in d},
        "stability": {"iterations": list(common), "methods": stable, "tspin_minus_spin": steadier},
    }


def _ci(d: dict, prefix: str = "") -> str:
    if prefix:
        return (
            f"{d[prefix + 'mean']:+.2f} [{d[prefix + 'ci_low']:+.2f}, {d[prefix + 'ci_high']:+.2f}]"
        )
    return f"{d['mean']:+.2f} [{d['ci_low']:+.2f}, {d['ci_high']:+.2f}]"


def render(result: dict, dyn: pd.DataFrame | None, families: pd.DataFrame | None = None) -> str:
    s = len(result["seeds"])
    lines = [f"# Tiny study: {s} seeds ({', '.join(map(str, result['seeds']))})", ""]
    lines += [
        "## Power (from the measured variances, before the results)",
        "",
        f"Smallest detectable paired difference at 95% confidence over S seeds: "
        f"t(0.975, S−1) · √(σ²_train + σ²_item/N) / √S, where σ²_item is the per-item "
        f"variance of the paired difference within one seed (N items), and σ²_train the "
        f"rest of the variance over seeds. Target: ≤ {TARGET} points.",
        "",
        "| difference | N | σ²_item/N | σ²_train | "
        + " | ".join(f"S={k}" for k in range(5, 11))
        + " |",
        "|---|---:|---:|---:|" + "---:|" * 6,
    ]
    for name, p in result["power"].items():
        n = result["differences"][name]["items"]
        cells = " | ".join(f"{v:.2f}" for v in p["detectable"].values())
        lines.append(f"| {name} | {n} | {p['var_items']:.3f} | {p['var_training']:.3f} | {cells} |")
    lines += [
        "",
        f"## Held-out exact match (%), mean ± sd and 95% CI over {s} seeds",
        "",
        "| model | iteration | mean | sd | 95% CI |",
        "|---|---:|---:|---:|---|",
    ]
    for name, a in result["accuracy"].items():
        lines.append(
            f"| {name} | {a['iteration']} | {a['mean']:.2f} | {a['sd']:.2f} | "
            f"[{a['ci_low']:.2f}, {a['ci_high']:.2f}] |"
        )
    if families is not None:
        lines += [
            "",
            "Per task family (mean over seeds):",
            "",
            families.to_markdown(index=False, floatfmt=".1f"),
        ]
    lines += [
        "",
        "## Paired differences (points): 95% CI over seeds, and the per-item paired "
        "bootstrap (items of all seeds pooled)",
        "",
        f"| difference | over seeds | sd | per seed ({', '.join(map(str, result['run_order']))}) "
        "| per-item bootstrap |",
        "|---|---|---:|---|---|",
    ]
    for name, d in result["differences"].items():
        per = ", ".join(f"{v:+.1f}" for v in d["per_seed"].values())
        boot = _ci(d, "item_") if "item_mean" in d else "—"
        lines.append(f"| {name} | {_ci(d)} | {d['sd']:.2f} | {per} | {boot} |")
    st = result["stability"]
    its = st["iterations"]
    lines += [
        "",
        f"## Stability: change from iteration t−1 to t, t = {its[0]}–{its[-1]}"
        if its
        else "## Stability",
        "",
        "| method | mean abs change (points) | flipped items (%) |",
        "|---|---|---|",
    ]
    for name, m in st["methods"].items():
        a = m["mean_abs_change"]
        f = m.get("flipped_items_pct")
        flip = f"{f['mean']:.2f} [{f['ci_low']:.2f}, {f['ci_high']:.2f}]" if f else "—"
        lines.append(
            f"| {name} | {a['mean']:.2f} [{a['ci_low']:.2f}, {a['ci_high']:.2f}] "
            f"(sd {a['sd']:.2f}) | {flip} |"
        )
    for key, what in (
        ("abs_change", "mean abs change (points)"),
        ("flipped_items_pct", "flipped items (%)"),
    ):
        if key in st["tspin_minus_spin"]:
            lines += [
                "",
                f"T-SPIN − SPIN, {what}, paired by seed: "
                f"{_ci(st['tspin_minus_spin'][key])} (negative: T-SPIN steadier)",
            ]
    if dyn is not None:
        lines += [
            "",
            "## Training dynamics (mean and sd over seeds)",
            "",
            dyn.to_markdown(index=False, floatfmt=".3f"),
        ]
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    """Accuracy per iteration (mean, 95% CI over seeds) and the paired differences against θ0."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.5))
    acc = result["accuracy"]
    base = acc["θ0"]
    last = 0
    for arm, label in LABELS.items():
        if arm == "θ0":
            continue
        pts = sorted((a["iteration"], a) for a in acc.values() if a["arm"] == arm)
        if not pts:
            continue
        xs = [THETA0_ITERATION] + [t for t, _ in pts]
        ys = [base["mean"]] + [a["mean"] for _, a in pts]
        es = [base["mean"] - base["ci_low"]] + [a["mean"] - a["ci_low"] for _, a in pts]
        ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=label)
        diffs = [(t, result["differences"].get(f"{label} iter{t} − θ0")) for t, _ in pts]
        diffs = [(t, d) for t, d in diffs if d]
        bx.errorbar(
            [t for t, _ in diffs],
            [d["mean"] for _, d in diffs],
            yerr=[d["mean"] - d["ci_low"] for _, d in diffs],
            marker="o",
            capsize=3,
            label=label,
        )
        last = max(last, xs[-1])
    s = len(result["seeds"])
    for a in (ax, bx):
        set_iteration_axis(a, last)
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    bx.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel("held-out exact match (%)")
    ax.set_title(f"Accuracy, mean and 95% CI over {s} seeds")
    bx.set_ylabel("paired difference vs θ0 (points)")
    bx.set_title(f"Model − θ0, mean and 95% CI over {s} seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m spin.tiny.study",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--output", type=Path, required=True, help="writes PREFIX.md/.json/.png")
    parser.add_argument("--resamples", type=int, default=bootstrap.RESAMPLES)
    args = parser.parse_args(argv)
    result = analyse(args.runs, args.resamples)
    dyn = dynamics_frame(args.runs)
    text = render(result, dyn, family_table(args.runs))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".md").write_text(text)
    payload = {**result, "dynamics": None if dyn is None else dyn.to_dict(orient="records")}
    write_json(args.output.with_suffix(".json"), payload)
    plot(result, args.output.with_suffix(".png"))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
