"""What every training stage checks about its own numbers, at every scale, before it may
produce a checkpoint (issue 23: a run whose reference was mostly zeros passed every test).

- At step 0, where the reference is the policy (SPIN, T-SPIN_ref), the policy's log-prob of
  every response equals the reference's: Δ = log π_θ(y|x) − log π_ref(y|x) = 0 per
  sequence, within the tolerance below.
- So the first loss is the loss at Δ = 0: log 2 for SPIN's sigmoid loss, 1 for its hinge
  loss, (1 + β)·log 2 for T-SPIN_ref's eq. 7.
- Every logged loss is finite.
A violation stops the stage with one line naming it and the numbers (InvariantError, which
`spin` prints as an error), not a traceback and not a checkpoint. The check costs nothing
but a gather of a few numbers at step 0: the log-probs are the training forward's own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from spin.errors import SpinError

# Δ at step 0 per sequence, in nats, as |Δ| <= ABS + PER_TOKEN x (response tokens). The policy
# and the reference are the same weights, inputs and precision; only the batch differs (the
# reference pass sorts by length into larger batches, so padding and matmul shapes differ).
# float32: a few 1e-6 per token measured (tests/integration/test_launchers.py); bf16 rounds
# each matmul to 8 mantissa bits, so the same shape differences reach ~1e-3 per token. The
# bug these catch is of another size: zeros in half the reference gave 4-7 nats on
# 16-token responses.
TOLERANCE = {"float32": (1e-4, 1e-5), "mixed": (0.05, 0.01)}


class InvariantError(SpinError):
    """A training stage's numbers contradict what its method guarantees."""


def tolerance(mixed_precision: bool, tokens: Tensor) -> Tensor:
    """The allowed |Δ| per sequence of `tokens` response tokens."""
    absolute, per_token = TOLERANCE["mixed" if mixed_precision else "float32"]
    return absolute + per_token * tokens.float()


@dataclass
class Step0Check:
    """The step-0 invariants of one stage. `expected_loss`: the loss at Δ = 0 (None for
    a method without a reference, whose first loss has no fixed value); `loss_slope`: the
    largest |dL/dΔ|, so that |loss − expected| <= slope × max|Δ| bounds the loss."""

    stage: str
    mixed_precision: bool
    expected_loss: float | None
    loss_slope: float = 1.0
    record: dict = field(default_factory=dict)

    def pending(self, trainer) -> bool:
        """True during step 0 (every micro-batch of the first optimizer step)."""
        return self.expected_loss is not None and trainer.state.global_step == 0

    def check(self, accelerator, loss: Tensor, delta: Tensor, tokens: Tensor) -> None:
        """Check one micro-batch of step 0 on every rank alike: the worst Δ and loss are
        gathered first, so all ranks stop together or none does."""
        with torch.no_grad():
            allowed = tolerance(self.mixed_precision, tokens.to(delta.device))
            excess = (delta.abs().float() - allowed).max()
            worst = delta.abs().float().max()
            loss_error = (loss.detach().float() - self.expected_loss).abs()
            stats = torch.stack([excess, worst, loss_error]).reshape(1, 3)
            excess, worst, loss_error = accelerator.gather(stats).max(dim=0).values.tolist()
        bound = self.loss_slope * worst + 1e-5
        self.record["step0_max_abs_delta"] = max(self.record.get("step0_max_abs_delta", 0), worst)
        self.record["step0_loss_error"] = max(self.record.get("step0_loss_error", 0), loss_error)
        absolute, per_token = TOLERANCE["mixed" if self.mixed_precision else "float32"]
        self.record["step0_tolerance"] = {"abs": absolute, "per_token": per_token}
        if excess > 0:
            raise InvariantError(
                f"{self.stage}: at step 0 the policy is the reference, but |Δ log-prob| reaches "
                f"{worst:.4g} nats, {excess:.4g} over the tolerance "
                f"({'bf16/fp16' if self.mixed_precision else 'fp32'}); "
                "the reference log-probs are wrong"
            )
        if not loss_error <= bound:
            raise InvariantError(
                f"{self.stage}: the first loss is {loss_error:.4g} away from "
                f"{self.expected_loss:.6g} (the loss at Δ = 0), more than the {bound:.3g} "
                f"that |Δ| <= {worst:.3g} allows"
            )


def check_finite(stage: str, logs: dict) -> None:
    """Every logged loss is a number: NaN or inf stops the stage."""
    for key in ("loss", "train_loss"):
        value = logs.get(key)
        if value is not None and not math.isfinite(value):
            raise InvariantError(f"{stage}: {key} is {value} at step {logs.get('step', '?')}")


def invariant_callback(stage: str):
    """A TrainerCallback that applies check_finite to every log line."""
    from transformers import TrainerCallback

    class Invariants(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            check_finite(stage, {**(logs or {}), "step": state.global_step})

    return Invariants()
