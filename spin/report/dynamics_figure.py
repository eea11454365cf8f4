"""The training-dynamics figure (T-SPIN's Figures 3 and 7), one column per arm.

Rows, each the same quantity in every column:
1. the reward of y, y′ and y₀ as the method's loss defines it (spin.dynamics.measure):
   SPIN β·(log πθ − log π_ref), T-SPIN_ref α·(log πθ − log π_ref), T-SPIN α·log πθ summed;
2. the log-likelihood per response token. Not the summed log-likelihood: under T-SPIN the
   reward *is* α times the sum, so a second row of sums would repeat the first. The mean
   per token is what length does not dominate, and it is recorded beside the sums;
3. the share of samples whose reward prefers y while the summed log-likelihood prefers y′
   (the paper's mismatch), on one y axis for all arms, from 0: T-SPIN's is 0 by
   construction and is drawn as 0, not as a swing between ±0.04%.

Error bars (spread across seeds) and the split (train/held-out) legend entries appear only
when there is more than one seed or split. The legend sits below the grid, never on data.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from spin import method as methods
from spin.report.figures import color, label, save, value_limits
from spin.report.results import dynamics_frame

ROLES = {
    "real": ("y (annotated)", "-", "o"),
    "generated": ("y′ (generated)", "--", "s"),
    "proto": ("y₀ (proto, θ0)", ":", "^"),
}
SPLITS = {"train": 1.0, "heldout": 0.45}  # alpha: held-out drawn fainter
SPLIT_NAMES = {"train": "training prompts", "heldout": "held-out prompts"}


QUANTITIES = tuple(
    f"{kind}_{role}" for kind in ("reward", "logp", "logp_per_token") for role in ROLES
) + ("mismatch_share",)


def frame(dynamics: list[dict]) -> pd.DataFrame:
    """Long form of spin-dynamics/1 objects (spin.report.results.scan) with every quantity
    this figure draws, the per-token log-likelihoods included: method, arm, iteration, seed,
    split, quantity, value. Nulls (no y₀ for pairs) are left out."""
    return dynamics_frame(dynamics, QUANTITIES)


def reward_formula(method: str) -> str:
    """The reward spin.dynamics.measure records for `method` (from its method record)."""
    m = methods.METHODS.get(method)
    if m is None:
        return "reward as recorded"
    if m.needs_reference:
        scale = "β" if m.reward_scale == "beta" else "α"
        return f"{scale}·(log πθ − log π_ref), summed"
    return "α·log πθ, summed"


def _loglik_prefix(dyn: pd.DataFrame) -> tuple[str, str]:
    """Per-token log-likelihood when the files record it; older files only have the sums."""
    if dyn["quantity"].str.startswith("logp_per_token_").any():
        return "logp_per_token", "log-likelihood per token (nats)"
    return "logp", "log-likelihood (nats, summed)"


def draw_training_dynamics(dyn: pd.DataFrame) -> plt.Figure:
    """The figure for a long dynamics frame (`frame`)."""
    arms = sorted(dyn["arm"].unique())
    loglik, loglik_label = _loglik_prefix(dyn)
    rows = [("reward", "reward (nats)"), (loglik, loglik_label), ("mismatch_share", None)]
    seeds = int(dyn.groupby(["arm", "iteration", "split"])["seed"].nunique(dropna=False).max())
    splits = [s for s in SPLITS if s in set(dyn["split"])] + sorted(set(dyn["split"]) - set(SPLITS))
    fig, axes = plt.subplots(3, len(arms), figsize=(4.2 * len(arms), 9.6), squeeze=False)
    roles_drawn: set[str] = set()
    errors = False
    mismatch_values: list[float] = []
    for col, arm in enumerate(arms):
        d = dyn[dyn["arm"] == arm]
        method = d["method"].iloc[0]
        for row, (prefix, ylabel) in enumerate(rows):
            ax = axes[row][col]
            keys = (
                [("share", "mismatch_share")]
                if prefix == "mismatch_share"
                else [(k, f"{prefix}_{k}") for k in ROLES]
            )
            values: list[float] = []
            for k, quantity in keys:
                for split in splits:
                    s = d[(d["quantity"] == quantity) & (d["split"] == split)]
                    if s.empty:
                        continue
                    g = s.groupby("iteration")["value"].agg(["mean", "std"]).fillna(0.0)
                    scale = 100.0 if prefix == "mismatch_share" else 1.0
                    mean, std = g["mean"] * scale, g["std"] * scale
                    name, ls, mk = ROLES.get(k, ("mismatch", "-", "o"))
                    roles_drawn.add(k)
                    errors |= bool(std.any())
                    ax.errorbar(
                        g.index,
                        mean,
                        yerr=std if std.any() else None,
                        color=color(method),
                        alpha=SPLITS.get(split, 0.7),
                        linestyle=ls,
                        marker=mk,
                        markersize=4,
                        capsize=2,
                    )
                    values += list(mean - std) + list(mean + std)
            ax.set_xlabel("iteration")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if prefix == "mismatch_share":
                mismatch_values += values
                ax.set_ylabel("mismatched samples (%)")
                if values and max(values) == 0:
                    ax.text(
                        0.5,
                        0.55,
                        "0 at every iteration",
                        transform=ax.transAxes,
                        ha="center",
                        fontsize=7,
                        color="#555",
                    )
            else:
                ax.set_ylabel(ylabel)
                if values:  # at least a tenth of the values' size: a flat line looks flat
                    ax.set_ylim(*value_limits(values, rel_span=0.1))
            if row == 0:
                ax.set_title(
                    f"{label(method)} (arm: {arm})\nreward = {reward_formula(method)}", fontsize=9
                )
    top = max([0.0, *mismatch_values])
    for ax in axes[2]:  # one scale for every arm's mismatch, from 0, at least 0–10%
        span = max(10.0, top * 1.15)
        ax.set_ylim(-0.03 * span, span)  # a share of 0 drawn just above the spine, not on it
    handles = [
        Line2D([], [], color="black", linestyle=ROLES[k][1], marker=ROLES[k][2], label=ROLES[k][0])
        for k in ROLES
        if k in roles_drawn
    ]
    if len(splits) > 1:
        handles += [
            Line2D(
                [],
                [],
                color="black",
                alpha=SPLITS.get(s, 0.7),
                linewidth=4,
                label=SPLIT_NAMES.get(s, s),
            )
            for s in splits
        ]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)
    where = f"{SPLIT_NAMES.get(splits[0], splits[0])} only; " if len(splits) == 1 else ""
    over = (
        f"mean over {seeds} seeds" + ("; bars: ± 1 sd across seeds" if errors else "")
        if seeds > 1
        else "one seed"
    )
    fig.suptitle(
        f"Training dynamics ({where}{over})\nmismatch: the reward prefers y while the summed "
        "log-likelihood prefers y′"
    )
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))
    return fig


def training_dynamics(dyn: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Draw and save `draw_training_dynamics` as training_dynamics.{png,svg}."""
    return save(draw_training_dynamics(dyn), out_dir, "training_dynamics")
