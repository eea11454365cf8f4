"""What each method is: one record per method, read by every module that asks a method question.

The config (which arms exist), the stage graph (pairs or triplets, β, data mixing, trainer),
the trainer CLI (`spin train --method`), dynamics (reward against a reference or not),
inspection and the reports (labels, the row a change is measured against) all look a method
up here instead of comparing its name, so adding or changing a method is one edit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spin.errors import ConfigError, nearest


@dataclass(frozen=True)
class Method:
    """One method: its data, its trainer and what its training ignores."""

    name: str
    """The arm's `method:` value, as results and reports store it."""
    label: str
    """Display name in result model names ("SPIN iter1") and the papers' row labels."""
    legend: str
    """Short name for figure legends."""
    data: str | None
    """pairs (y, y′) | triplets (y, y′, y0) | None (SFT text)."""
    trainer: str
    """`spin train --method` value that trains it."""
    needs_reference: bool = False
    """Its loss (and dynamics reward) is a log-ratio against a frozen reference θt."""
    mixes_previous: bool = False
    """Iteration t >= 1 trains on t-1's pairs too when training.mix_previous is true."""
    historical_advantage: str = "none"
    """When β (the historical-advantage weight, or SPIN's β) applies: always | after_first
    (T-SPIN: y′ and y0 both come from θ0 at iteration 0, so β = 0 there) | never (β = 0)."""
    reward_scale: str = ""
    """The TrainingConfig field that scales its reward: beta (SPIN) | alpha (T-SPIN)."""
    ignores: tuple[tuple[str, Any, str], ...] = ()
    """(TrainingConfig field, the value the method uses or None, why) for the fields its
    training never reads; a YAML that sets one to another value is rejected with the reason
    (spin.config.check_method_fields)."""
    arm: bool = True
    """Can be an arm's method (sft is θ0 and the trainer's SFT mode; dpo is reported only)."""
    parent: str | None = None
    """The method a change per iteration falls back to (tspin_noha: tspin)."""

    def beta_at(self, iteration: int, beta: float) -> float:
        """The β the trainer gets at `iteration` for the configured `beta`."""
        if self.historical_advantage == "never":
            return 0.0
        if self.historical_advantage == "after_first" and iteration == 0:
            return 0.0
        return beta

    @property
    def self_play(self) -> bool:
        """Trains on its own generations (pairs or triplets), not on SFT text."""
        return self.data is not None


_NO_MIX = ("mix_previous", False, "{label} does not mix the previous iteration's data")
_NO_LOSS_TYPE = (
    "loss_type",
    None,
    "loss_type is SPIN's (sigmoid | hinge); {label}'s loss is eq. 7",
)
_NO_ALPHA = ("alpha", None, "alpha is T-SPIN's reward scale; SPIN's reward is β·log-ratio")

METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "spin",
            "SPIN",
            "SPIN",
            "pairs",
            "spin",
            needs_reference=True,
            mixes_previous=True,
            historical_advantage="always",
            reward_scale="beta",
            ignores=(_NO_ALPHA,),
        ),
        Method(
            "tspin",
            "T-SPIN",
            "T-SPIN",
            "triplets",
            "tspin",
            historical_advantage="after_first",
            reward_scale="alpha",
            ignores=(_NO_MIX, _NO_LOSS_TYPE),
        ),
        Method(
            "tspin_noha",
            "T-SPIN w/o historical advantage",
            "T-SPIN w/o hist. adv.",
            "triplets",
            "tspin",
            historical_advantage="never",
            reward_scale="alpha",
            ignores=(
                _NO_MIX,
                _NO_LOSS_TYPE,
                ("beta", 0.0, "{label} has β = 0 at every iteration by definition"),
            ),
            parent="tspin",
        ),
        Method(
            "tspin_ref",
            "T-SPIN_ref",
            "T-SPIN_ref",
            "triplets",
            "tspin_ref",
            needs_reference=True,
            historical_advantage="after_first",
            reward_scale="alpha",
            ignores=(_NO_MIX, _NO_LOSS_TYPE),
        ),
        Method("continued_sft", "SFT", "continued SFT", None, "sft"),
        Method("sft", "SFT", "base model", None, "sft", arm=False),
        Method("dpo", "DPO", "DPO", None, "", arm=False),
    )
}

ARM_METHODS = tuple(name for name, m in METHODS.items() if m.arm)
"""Values an arm's `method:` accepts."""
TRAINERS = tuple(dict.fromkeys(m.trainer for m in METHODS.values() if m.trainer))
"""Values `spin train --method` accepts."""


def get(name: str, *, arm: bool = False) -> Method:
    """The method called `name`; a one-line ConfigError naming the allowed values if none is
    (with arm=True only the methods an arm can run)."""
    allowed = ARM_METHODS if arm else tuple(METHODS)
    if name not in allowed:
        raise ConfigError(
            f"method '{name}' is not one of {', '.join(allowed)}{nearest(str(name), allowed)}"
        )
    return METHODS[name]


def by_trainer(trainer: str) -> Method:
    """The method a `spin train --method` value names (tspin for tspin and tspin_noha)."""
    return next(m for m in METHODS.values() if m.trainer == trainer)


def label(name: str) -> str:
    """A method's legend name; unknown names are shown as they are."""
    m = METHODS.get(name)
    return m.legend if m else name
