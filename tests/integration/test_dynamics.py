"""spin.dynamics on a tiny Mistral: batched, padded scoring equals a hand loop over single
examples; rewards follow each method's definition; the mismatch share counts what it says."""

from __future__ import annotations

import gc
import json
import weakref

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from spin.dynamics import measure, mismatch_share, sequence_logps, write_dynamics
from spin.prompts import format_prompt, truncate_prompt
from spin.tiny.tasks import make_items
from tests.integration.hand_logps import hand_logp


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tiny_model_dir):
    """A policy and a different 'reference' (the policy with perturbed weights)."""
    root = tmp_path_factory.mktemp("dynamics")
    reference = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in reference.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    reference.save_pretrained(root / "reference")
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.save_pretrained(root / "reference")
    return {"policy": tiny_model_dir, "reference": root / "reference", "tokenizer": tokenizer}


def records(n: int = 7) -> list[dict]:
    items = make_items(n, seed=11)
    return [
        {
            "prompt": it["prompt"],
            "real": it["answer"],
            # lengths differ (padding), and every other y′ is one short token, so log πθ(y′)
            # exceeds log πθ(y) for some examples and not others
            "generated": "y" if i % 2 else items[(i + 1) % n]["answer"] + " y" * i,
            "proto": "x" * (1 + i),
        }
        for i, it in enumerate(items)
    ]


def hand_scores(
    path, tokenizer, recs, roles=("real", "generated", "proto"), reduction="sum"
) -> dict[str, torch.Tensor]:
    model = AutoModelForCausalLM.from_pretrained(path)
    prompts = [format_prompt(tokenizer, r["prompt"], "chat") for r in recs]
    return {
        role: torch.stack(
            [
                hand_logp(model, tokenizer, p, r[role], reduction)
                for p, r in zip(prompts, recs, strict=True)
            ]
        )
        for role in roles
    }


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_sequence_logps_match_a_hand_loop(tiny, reduction):
    tokenizer = tiny["tokenizer"]
    model = AutoModelForCausalLM.from_pretrained(tiny["policy"])
    recs = records()
    prompts = [format_prompt(tokenizer, r["prompt"], "chat") for r in recs]
    responses = [r["generated"] for r in recs]
    expected = torch.stack(
        [
            hand_logp(model, tokenizer, p, y, reduction)
            for p, y in zip(prompts, responses, strict=True)
        ]
    )
    # Batches of 3 mix lengths, so rows are padded; the order must come back as given.
    got = sequence_logps(model, tokenizer, prompts, responses, batch_size=3, reduction=reduction)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-4)
    one_batch = sequence_logps(
        model, tokenizer, prompts, responses, batch_size=16, reduction=reduction
    )
    torch.testing.assert_close(one_batch, expected, rtol=1e-5, atol=1e-4)
    assert len(set(expected.tolist())) == len(recs)  # distinct values: a permutation would show


def test_measure_tspin_reward_is_alpha_logp(tiny):
    tokenizer, recs = tiny["tokenizer"], records()
    hand = hand_scores(tiny["policy"], tokenizer, recs)
    result = measure(str(tiny["policy"]), recs, tokenizer, method="tspin", alpha=0.5, batch_size=4)
    per_token = hand_scores(tiny["policy"], tokenizer, recs, reduction="mean")
    assert result["n"] == len(recs)
    for role in ("real", "generated", "proto"):
        assert result[f"logp_{role}"] == pytest.approx(hand[role].mean().item(), abs=1e-4)
        got = result[f"logp_per_token_{role}"]
        assert got == pytest.approx(per_token[role].mean().item(), abs=1e-4)
        assert result[f"reward_{role}"] == pytest.approx(0.5 * hand[role].mean().item(), abs=1e-4)
    assert (
        result["mismatch_share"] == 0.0
    )  # a reward that is α·logp (α > 0) cannot disagree with logp


@pytest.mark.parametrize("method,scale", [("spin", 0.1), ("tspin_ref", 0.7)])
def test_measure_reference_rewards_and_mismatch(tiny, monkeypatch, method, scale):
    tokenizer = tiny["tokenizer"]
    recs = [{k: v for k, v in r.items() if k != "proto"} for r in records(24)]
    policy = hand_scores(tiny["policy"], tokenizer, recs, ("real", "generated"))
    ref = hand_scores(tiny["reference"], tokenizer, recs, ("real", "generated"))

    # Never two models at once: when a model is loaded, every earlier one has been freed.
    live: list[weakref.ref] = []
    original = PreTrainedModel.from_pretrained.__func__

    def tracked(cls, *args, **kwargs):
        gc.collect()
        assert all(r() is None for r in live), "the policy is still alive while the reference loads"
        model = original(cls, *args, **kwargs)
        live.append(weakref.ref(model))
        return model

    monkeypatch.setattr(PreTrainedModel, "from_pretrained", classmethod(tracked))
    result = measure(
        str(tiny["policy"]),
        recs,
        tokenizer,
        method=method,
        reference_path=str(tiny["reference"]),
        alpha=0.7,
        beta=0.1,
        batch_size=4,
    )
    monkeypatch.undo()
    assert len(live) == 2

    rewards = {role: scale * (policy[role] - ref[role]) for role in ("real", "generated")}
    for role in ("real", "generated"):
        assert result[f"reward_{role}"] == pytest.approx(rewards[role].mean().item(), abs=1e-4)
        assert result[f"logp_{role}"] == pytest.approx(policy[role].mean().item(), abs=1e-4)
    assert result["reward_proto"] is None and result["logp_proto"] is None
    by_hand = (
        ((rewards["real"] > rewards["generated"]) & (policy["real"] < policy["generated"]))
        .float()
        .mean()
    )
    assert result["mismatch_share"] == pytest.approx(by_hand.item())
    # The seeded perturbation mismatches some examples but not all, so the count is exercised.
    assert 0 < by_hand.item() < 1


def test_measure_scores_the_trainers_truncated_tokens_with_per_token_means(tiny):
    # Long responses: with max_length the trainer sees only the first max_length tokens of
    # prompt + response (clean layout), and so must the dynamics.
    tokenizer = tiny["tokenizer"]
    recs = [{**r, "real": r["real"] + " long" * 40} for r in records(3)]
    model = AutoModelForCausalLM.from_pretrained(tiny["policy"])
    sums, counts = [], []
    for r in recs:
        prompt = truncate_prompt(tokenizer, format_prompt(tokenizer, r["prompt"], "chat"), 32)[0]
        prompt_ids = tokenizer(prompt)["input_ids"]
        full = tokenizer(prompt + r["real"] + tokenizer.eos_token)["input_ids"][:60]
        with torch.no_grad():
            logprobs = torch.log_softmax(model(input_ids=torch.tensor([full])).logits[0], -1)
        tokens = [logprobs[t - 1, full[t]] for t in range(len(prompt_ids), len(full))]
        sums.append(torch.stack(tokens).sum().item())
        counts.append(len(tokens))
    result = measure(
        str(tiny["policy"]), recs, tokenizer, method="tspin", max_length=60, max_prompt_length=32
    )
    assert max(counts) < len(tokenizer(recs[0]["real"])["input_ids"])  # truncation acted
    assert result["logp_real"] == pytest.approx(sum(sums) / 3, abs=1e-4)
    assert result["tokens_real"] == pytest.approx(sum(counts) / 3)
    per_token = sum(s / c for s, c in zip(sums, counts, strict=True)) / 3
    assert result["logp_per_token_real"] == pytest.approx(per_token, abs=1e-5)


def test_mismatch_share_on_a_constructed_case():
    # Example:            0      1      2      3      4
    # reward y > y′:      yes    yes    no     yes    no
    # logp   y < y′:      yes    no     yes    yes    no
    # mismatched:         yes    no     no     yes    no   → 2 of 5 = 0.4
    reward_real = torch.tensor([1.0, 2.0, -1.0, 0.5, 0.0])
    reward_generated = torch.tensor([0.0, 1.0, 1.0, 0.1, 0.0])
    logp_real = torch.tensor([-20.0, -5.0, -30.0, -12.0, -3.0])
    logp_generated = torch.tensor([-10.0, -9.0, -10.0, -11.0, -4.0])
    assert mismatch_share(
        reward_real, reward_generated, logp_real, logp_generated
    ) == pytest.approx(0.4)


def test_measure_needs_a_reference_for_spin(tiny):
    with pytest.raises(ValueError, match="reference_path"):
        measure(str(tiny["policy"]), records(2), tiny["tokenizer"], method="spin")
    with pytest.raises(ValueError, match="method"):
        measure(str(tiny["policy"]), records(2), tiny["tokenizer"], method="dpo")


def test_write_dynamics(tmp_path):
    split = {"n": 2, "reward_real": 0.1, "reward_generated": -0.1, "reward_proto": None}
    path = tmp_path / "dyn" / "tspin_iter1.json"
    write_dynamics(path, method="tspin", arm="tspin", iteration=1, seed=42, splits={"train": split})
    data = json.loads(path.read_text())
    assert data == {
        "schema": "spin-dynamics/1",
        "method": "tspin",
        "arm": "tspin",
        "iteration": 1,
        "seed": 42,
        "splits": {"train": split},
    }
    assert [p.name for p in path.parent.iterdir()] == ["tspin_iter1.json"]  # no temp file left


def test_report_rows_of_measured_tspin_dynamics_differ(tiny, tmp_path):
    """T-SPIN's reward is α·log πθ summed, so with α = 1 it equals the summed log-likelihood;
    the report's figure therefore draws the measured per-token means in its log-likelihood
    row, and both rows hold exactly the numbers measure() wrote."""
    from spin.report import dynamics_figure, figures, results

    out = measure(str(tiny["policy"]), records(), tiny["tokenizer"], method="tspin", batch_size=4)
    assert out["reward_real"] == pytest.approx(out["logp_real"])  # the two sums coincide
    write_dynamics(
        tmp_path / "d.json", method="tspin", arm="tspin", iteration=0, seed=0, splits={"train": out}
    )
    figures.configure()
    fig = dynamics_figure.draw_training_dynamics(
        dynamics_figure.frame(results.scan(tmp_path).dynamics)
    )
    reward_ax, loglik_ax = fig.axes[0], fig.axes[1]  # one arm: rows top to bottom

    def drawn(ax) -> list[float]:
        return sorted(float(ln.get_ydata()[0]) for ln in ax.lines if len(ln.get_ydata()))

    roles = ("real", "generated", "proto")
    assert drawn(reward_ax) == pytest.approx(sorted(out[f"reward_{r}"] for r in roles))
    assert drawn(loglik_ax) == pytest.approx(sorted(out[f"logp_per_token_{r}"] for r in roles))
    assert drawn(reward_ax) != pytest.approx(drawn(loglik_ax))
    figures.plt.close(fig)
