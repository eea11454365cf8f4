"""spin.losses against values worked out by hand, and T-SPIN's gradient (Theorem 1).

Notation: ℓ(z) = −log σ(z) = log(1 + e^(−z)); ℓ′(z) = σ(z) − 1.
"""

from __future__ import annotations

import math

import pytest
import torch

from spin.losses import spin_loss, spin_rewards, tspin_loss, tspin_ref_loss


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


# ------------------------------------------------------------------ SPIN


def test_spin_sigmoid_by_hand():
    # Example 1: Δ = (−10 − (−11)) − (−12 − (−11)) = 1 − (−1) = 2;
    #   −log σ(0.1·2) = log(1 + e^−0.2) = log(1.818730753) = 0.598138869...
    # Example 2: Δ = (−8 − (−7)) − (−5 − (−7)) = −1 − 2 = −3;
    #   −log σ(0.1·(−3)) = log(1 + e^0.3) = log(2.349858808) = 0.854355244...
    loss = spin_loss(t(-10, -8), t(-12, -5), t(-11, -7), t(-11, -7), beta=0.1)
    assert loss.shape == (2,)  # per example, no reduction
    torch.testing.assert_close(loss, t(0.5981388693815918, 0.8543552444685271))


def test_spin_hinge_by_hand():
    # Same two examples: max(0, 1 − 0.1·2) = 0.8 and max(0, 1 − 0.1·(−3)) = 1.3.
    loss = spin_loss(t(-10, -8), t(-12, -5), t(-11, -7), t(-11, -7), beta=0.1, loss_type="hinge")
    torch.testing.assert_close(loss, t(0.8, 1.3))
    # β = 1, Δ = 2: max(0, 1 − 2) = 0 — the hinge is flat once the margin exceeds 1/β.
    flat = spin_loss(t(-10), t(-12), t(-11), t(-11), beta=1.0, loss_type="hinge")
    torch.testing.assert_close(flat, t(0.0))


def test_spin_at_reference_is_log2():
    # θ = θt (the start of every SPIN iteration): Δ = 0 and the loss is log 2 = 0.693147...
    # whatever the log-probs (the paper's "zero gradient at θ = θt" question, SPIN issue #22).
    lp = t(-3.0, -40.0)
    loss = spin_loss(lp, lp - 5, lp, lp - 5, beta=0.1)
    torch.testing.assert_close(loss, t(math.log(2), math.log(2)))


def test_spin_rejects_unknown_loss_type():
    with pytest.raises(ValueError, match="ipo"):
        spin_loss(t(0), t(0), t(0), t(0), beta=0.1, loss_type="ipo")


def test_spin_rewards_by_hand():
    # β(log πθ − log πref) = 0.1·(−10 − (−11)) = 0.1 and 0.1·(−12 − (−11)) = −0.1
    torch.testing.assert_close(spin_rewards(t(-10, -12), t(-11, -11), beta=0.1), t(0.1, -0.1))


# ------------------------------------------------------------------ T-SPIN


def test_tspin_by_hand():
    # log πθ(y) = −5, log πθ(y′) = −7, log πθ(y₀) = −6; α = 1, β = 0.1.
    #   current:    ℓ(1·(−5 − (−7))) = ℓ(2)  = log(1 + e^−2) = 0.126928011...
    #   historical: ℓ(1·(−7 − (−6))) = ℓ(−1) = log(1 + e)    = 1.313261687...
    #   total: 0.126928011 + 0.1·1.313261687 = 0.258254179...
    loss = tspin_loss(t(-5), t(-7), t(-6), alpha=1.0, beta=0.1)
    torch.testing.assert_close(loss, t(0.2582541797947949))


def test_tspin_alpha_scales_the_margins():
    # α = 0.5, β = 0.3, same log-probs: ℓ(0.5·2) + 0.3·ℓ(0.5·(−1)) = ℓ(1) + 0.3·ℓ(−0.5)
    #   = 0.313261687 + 0.3·0.974076984 = 0.605484782...
    loss = tspin_loss(t(-5), t(-7), t(-6), alpha=0.5, beta=0.3)
    torch.testing.assert_close(loss, t(0.6054847827722548))


def test_tspin_beta_zero_is_the_pairwise_reference_free_loss():
    # β = 0 (iteration 0, and the no-historical-advantage ablation): −log σ(α(lp_y − lp_y′)),
    # whatever y₀ is. By hand, α = 1: ℓ(−5 − (−7)) = ℓ(2) = 0.126928011... and
    # ℓ(−1 − (−0.5)) = ℓ(−0.5) = log(1 + e^0.5) = 0.974076984...;
    # α = 2: ℓ(4) = log(1 + e^−4) = 0.018149927... and ℓ(−1) = 1.313261687...
    real, generated = t(-5, -1), t(-7, -0.5)
    for alpha, proto, expected in (
        (1.0, t(-6, 0.0), t(0.12692801104297263, 0.9740769841801068)),
        (2.0, t(-100, -100), t(0.01814992791780978, 1.3132616875182228)),
    ):
        loss = tspin_loss(real, generated, proto, alpha=alpha, beta=0.0)
        torch.testing.assert_close(loss, expected)
        torch.testing.assert_close(
            loss, -torch.nn.functional.logsigmoid(alpha * (real - generated))
        )
    torch.testing.assert_close(tspin_loss(t(-5), t(-7), t(-6), beta=0.0), t(0.12692801104297263))


def test_tspin_ref_by_hand():
    # policy: y −4, y′ −6, y₀ −9; reference: y −5, y′ −4, y₀ −9.
    # log-ratios: y +1, y′ −2, y₀ 0, so u = 1 − (−2) = 3 and v = −2 − 0 = −2.
    # α = 0.5, β = 0.3: ℓ(1.5) + 0.3·ℓ(−1) = 0.201413278 + 0.3·1.313261687 = 0.595391784...
    loss = tspin_ref_loss(t(-4), t(-6), t(-9), t(-5), t(-4), t(-9), alpha=0.5, beta=0.3)
    torch.testing.assert_close(loss, t(0.5953917842382193))
    # The reference matters: the reference-free loss on the same policy log-probs is
    # ℓ(0.5·2) + 0.3·ℓ(0.5·3) = 0.313261687 + 0.3·0.201413278 ≠ 0.595...
    free = tspin_loss(t(-4), t(-6), t(-9), alpha=0.5, beta=0.3)
    torch.testing.assert_close(free, t(0.3132616875182228 + 0.3 * 0.2014132779827524))


def test_tspin_ref_at_reference_is_one_plus_beta_log2():
    # θ = θt: both margins vanish, loss = (1 + β)·log 2 = 1.1·0.693147 = 0.762461898...
    lp = t(-3.0, -20.0)
    loss = tspin_ref_loss(lp, lp - 1, lp - 2, lp, lp - 1, lp - 2, alpha=1.0, beta=0.1)
    torch.testing.assert_close(loss, t(0.7624618986159398, 0.7624618986159398))


# ------------------------------------------------------------------ Theorem 1


def test_theorem1_gradient_wrt_logps():
    # ∂L/∂lp_y = αℓ′(αu), ∂L/∂lp_y′ = −αℓ′(αu) + αβℓ′(αv), ∂L/∂lp_y₀ = −αβℓ′(αv),
    # u = lp_y − lp_y′ = 2, v = lp_y′ − lp_y₀ = −1, α = 1, β = 0.1:
    # ℓ′(2) = σ(2) − 1 = −0.119202922, ℓ′(−1) = σ(−1) − 1 = −0.731058579.
    real, generated, proto = (t(x).requires_grad_() for x in (-5.0, -7.0, -6.0))
    tspin_loss(real, generated, proto, alpha=1.0, beta=0.1).sum().backward()
    torch.testing.assert_close(real.grad, t(-0.11920292202211769))
    torch.testing.assert_close(generated.grad, t(0.11920292202211769 + 0.1 * -0.7310585786300049))
    torch.testing.assert_close(proto.grad, t(-0.1 * -0.7310585786300049))


@pytest.mark.parametrize("alpha,beta", [(1.0, 0.1), (0.3, 0.5), (2.0, 0.0)])
def test_theorem1_gradient_wrt_parameters(alpha, beta):
    # A small autoregressive policy: per-position softmax over a 5-token vocabulary with
    # parameters θ of shape (positions, vocab). log πθ(z) = Σ_i log softmax(θ_i)[z_i].
    # Theorem 1: ∇L = α·mean[ℓ′(αu)(∇lp_y − ∇lp_y′) + β·ℓ′(αv)(∇lp_y′ − ∇lp_y₀)].
    gen = torch.Generator().manual_seed(0)
    theta = torch.randn(4, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    seqs = torch.randint(0, 5, (3, 3, 4), generator=gen)  # (batch, {y, y′, y₀}, positions)

    def logp(z: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(theta, dim=-1).gather(1, z[:, None]).sum()

    def grad(z: torch.Tensor) -> torch.Tensor:
        return torch.autograd.grad(logp(z), theta)[0]

    lps = torch.stack([torch.stack([logp(z) for z in triple]) for triple in seqs])
    loss = tspin_loss(lps[:, 0], lps[:, 1], lps[:, 2], alpha=alpha, beta=beta).mean()
    (autograd,) = torch.autograd.grad(loss, theta)

    def ell_prime(z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(z) - 1

    expected = torch.zeros_like(theta)
    for triple, lp in zip(seqs, lps.detach(), strict=True):
        u, v = lp[0] - lp[1], lp[1] - lp[2]
        g_y, g_gen, g_proto = (grad(z) for z in triple)
        expected += alpha * (
            ell_prime(alpha * u) * (g_y - g_gen) + beta * ell_prime(alpha * v) * (g_gen - g_proto)
        )
    expected /= len(seqs)
    torch.testing.assert_close(autograd, expected)
    assert autograd.abs().sum() > 0
