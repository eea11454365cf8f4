"""The self-play losses as pure tensor functions: per-example values, no reduction.

Inputs are per-sequence log-probabilities of the response given the prompt, summed over
response tokens (or averaged, if the caller chose `logp_reduction: mean`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

SPIN_LOSS_TYPES = ("sigmoid", "hinge")


def spin_loss(
    policy_real_logps: Tensor,
    policy_generated_logps: Tensor,
    ref_real_logps: Tensor,
    ref_generated_logps: Tensor,
    *,
    beta: float,
    loss_type: str = "sigmoid",
) -> Tensor:
    """SPIN (Chen et al. 2024, eq. 4.7 with ℓ logistic or hinge).

    Δ = (log πθ(y|x) − log πref(y|x)) − (log πθ(y′|x) − log πref(y′|x)), y real, y′ generated;
    sigmoid: −log σ(βΔ); hinge: max(0, 1 − βΔ). This is the DPO loss with chosen = real.
    """
    delta = (policy_real_logps - ref_real_logps) - (policy_generated_logps - ref_generated_logps)
    if loss_type == "sigmoid":
        return -F.logsigmoid(beta * delta)
    if loss_type == "hinge":
        return torch.relu(1 - beta * delta)
    raise ValueError(f"loss_type '{loss_type}' is not one of {SPIN_LOSS_TYPES}")


def spin_rewards(policy_logps: Tensor, ref_logps: Tensor, *, beta: float) -> Tensor:
    """SPIN's logged reward β(log πθ − log πref) for one response."""
    return beta * (policy_logps - ref_logps)


def tspin_loss(
    policy_real_logps: Tensor,
    policy_generated_logps: Tensor,
    policy_proto_logps: Tensor,
    *,
    alpha: float = 1.0,
    beta: float = 0.1,
) -> Tensor:
    """T-SPIN (Wang et al. 2025, eq. 7): reference-free, with the historical advantage.

    −log σ(α(log πθ(y) − log πθ(y′))) + β·(−log σ(α(log πθ(y′) − log πθ(y₀)))),
    y real, y′ from the previous iterate, y₀ the proto-synthetic response of θ0.
    """
    current = -F.logsigmoid(alpha * (policy_real_logps - policy_generated_logps))
    historical = -F.logsigmoid(alpha * (policy_generated_logps - policy_proto_logps))
    return current + beta * historical


def tspin_ref_loss(
    policy_real_logps: Tensor,
    policy_generated_logps: Tensor,
    policy_proto_logps: Tensor,
    ref_real_logps: Tensor,
    ref_generated_logps: Tensor,
    ref_proto_logps: Tensor,
    *,
    alpha: float = 1.0,
    beta: float = 0.1,
) -> Tensor:
    """T-SPIN_ref (Figure 4b): the triplet loss with the reward α(log πθ − log πref).

    The paper's eq. 9 was not legible; this is its natural reading, with πref the previous
    iterate: eq. 7 applied to the log-ratios instead of the log-probs.
    """
    return tspin_loss(
        policy_real_logps - ref_real_logps,
        policy_generated_logps - ref_generated_logps,
        policy_proto_logps - ref_proto_logps,
        alpha=alpha,
        beta=beta,
    )
