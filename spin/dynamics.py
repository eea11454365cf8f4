"""Training dynamics (T-SPIN's Figures 3 and 7): rewards and log-likelihoods of y, y′, y₀.

The paper's observation: under SPIN the annotated y ends with a higher reward than the
model's own y′ but a lower log-likelihood ("nearly half" of the samples are mismatched in
this way), while under T-SPIN, whose reward is the log-likelihood itself, the two agree.
`measure` scores one checkpoint on a set of records; `write_dynamics` stores the result.

Scores use the trainers' tokens (spin.train.dataset: layout, truncation, attention masks) and
dtype, so a log-prob here is the one the trainer optimises; per-token means are recorded
beside the sums, which length dominates. Log-probs are computed from the models' logits with a
plain forward pass, independently of the trainers' fused LM head, so the two cross-check each
other in tests.
"""

from __future__ import annotations

import gc
from pathlib import Path

import torch
from torch import Tensor

from spin import method as methods
from spin.io import write_json
from spin.train.dataset import ROLE_COLUMNS, SequenceCollator, render_rows, tokenize_example

SCHEMA = "spin-dynamics/1"


def encode_records(
    records: list[dict],
    tokenizer,
    *,
    roles: tuple[str, ...],
    prompt_format: str,
    layout: str,
    max_length: int | None,
    max_prompt_length: int,
) -> list[dict]:
    """The trainer's tokens of each record {"prompt" (raw), "real", "generated"[, "proto"]}:
    spin.train.dataset's rendering, layout, truncation and attention masks."""
    rows, _ = render_rows(
        records,
        tokenizer,
        kind="triplets" if "proto" in roles else "pairs",
        prompt_format=prompt_format,
        max_prompt_length=max_prompt_length,
        layout=layout,
    )
    kw = dict(
        roles=roles, layout=layout, max_length=max_length, max_prompt_length=max_prompt_length
    )
    return [tokenize_example(row, tokenizer, **kw) for row in rows]


@torch.no_grad()
def token_logps(
    model, examples: list[dict], role: str, *, pad_token_id: int, batch_size: int = 16
) -> tuple[Tensor, Tensor]:
    """(Σ log π over the role's response tokens, number of those tokens) per tokenised example
    (`encode_records`), as float32 CPU tensors, from right-padded batches."""
    collate = SequenceCollator(pad_token_id, (role,))
    device = next(model.parameters()).device
    # Longest first, so batches hold similar lengths (less padding) and memory peaks early.
    lengths = [len(e["prompt_ids"]) + len(e[f"{role}_ids"]) for e in examples]
    order = sorted(range(len(examples)), key=lambda i: -lengths[i])
    sums = torch.empty(len(examples), dtype=torch.float32)
    counts = torch.empty(len(examples), dtype=torch.float32)
    was_training = model.training
    model.eval()
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = {k: v.to(device) for k, v in collate([examples[i] for i in idx]).items()}
        ids, mask = batch["input_ids"], batch["completion_mask"][:, 1:].float()
        logits = model(
            input_ids=ids, attention_mask=batch["attention_mask"], use_cache=False
        ).logits
        # Token t is predicted from position t − 1.
        logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        per_token = logprobs.gather(-1, ids[:, 1:, None]).squeeze(-1) * mask
        del logits, logprobs
        sums[torch.tensor(idx)] = per_token.sum(dim=1).cpu()
        counts[torch.tensor(idx)] = mask.sum(dim=1).cpu()
    model.train(was_training)
    return sums, counts


def sequence_logps(
    model,
    tokenizer,
    prompts: list[str],
    responses: list[str],
    *,
    batch_size: int = 16,
    reduction: str = "sum",
    layout: str = "clean",
    max_length: int | None = None,
    max_prompt_length: int | None = None,
) -> Tensor:
    """log π(response | prompt) per pair of rendered prompt and raw response, with the
    trainers' tokens, summed (or averaged, reduction=mean) over the response tokens."""
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction '{reduction}' is not sum or mean")
    examples = [
        tokenize_example(
            {"prompt": p, ROLE_COLUMNS["real"]: r},
            tokenizer,
            roles=("real",),
            layout=layout,
            max_length=max_length,
            max_prompt_length=max_prompt_length,
        )
        for p, r in zip(prompts, responses, strict=True)
    ]
    sums, counts = token_logps(
        model, examples, "real", pad_token_id=_pad_id(tokenizer), batch_size=batch_size
    )
    return _reduce(sums, counts, reduction)


def _pad_id(tokenizer) -> int:
    pad = tokenizer.pad_token_id
    return tokenizer.eos_token_id if pad is None else pad


def _score(
    model_path: str, examples: list[dict], roles, *, dtype: str, **kw
) -> dict[str, tuple[Tensor, Tensor]]:
    """Load one model (in the trainer's dtype), score every role, free the model."""
    from transformers import AutoModelForCausalLM

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, dtype)).to(device)
    try:
        return {role: token_logps(model, examples, role, **kw) for role in roles}
    finally:
        del model
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def mismatch_share(
    reward_real: Tensor, reward_generated: Tensor, logp_real: Tensor, logp_generated: Tensor
) -> float:
    """Share of examples whose reward ranks y above y′ while the likelihood ranks y′ above y."""
    mismatched = (reward_real > reward_generated) & (logp_real < logp_generated)
    return mismatched.float().mean().item()


def measure(
    policy_path: str,
    records: list[dict],
    tokenizer,
    *,
    method: str,
    reference_path: str | None = None,
    alpha: float = 1.0,
    beta: float = 0.1,
    prompt_format: str = "chat",
    max_prompt_length: int = 512,
    max_length: int | None = None,
    layout: str = "clean",
    reduction: str = "sum",
    batch_size: int = 16,
    dtype: str = "float32",
) -> dict:
    """Mean rewards and log-probs of y (real), y′ (generated) and y₀ (proto, if the records
    have it) under policy_path, and the mismatch share, on the trainer's tokens (prompt_format,
    layout, max_length, max_prompt_length) in the trainer's dtype. logp_{role} and the rewards
    use the trainer's reduction; logp_per_token_{role} is the mean per response token beside
    them, and tokens_{role} the mean response length.

    Rewards: spin β(log πθ − log πref), tspin_ref α(log πθ − log πref), with the reference
    loaded from reference_path after the policy is freed (never both at once); tspin and
    tspin_noha α·log πθ. Records: {"prompt" (raw user text), "real", "generated", "proto"?}.
    """
    # The reward is a log-ratio against the reference (β for SPIN, α for T-SPIN_ref) for the
    # methods that need one, else α·log πθ (T-SPIN and its no-historical-advantage ablation).
    scored_methods = [name for name, m in methods.METHODS.items() if m.self_play]
    if method not in scored_methods:
        raise ValueError(f"method '{method}' is not one of {tuple(scored_methods)}")
    m = methods.METHODS[method]
    if m.needs_reference and not reference_path:
        raise ValueError(f"method '{method}' needs reference_path (its reward is a log-ratio)")
    if not records:
        raise ValueError("no records to measure")
    roles = ["real", "generated"] + (["proto"] if all("proto" in r for r in records) else [])
    examples = encode_records(
        records,
        tokenizer,
        roles=tuple(roles),
        prompt_format=prompt_format,
        layout=layout,
        max_length=max_length,
        max_prompt_length=max_prompt_length,
    )
    kw = dict(dtype=dtype, pad_token_id=_pad_id(tokenizer), batch_size=batch_size)
    scored = _score(policy_path, examples, roles, **kw)
    logps = {role: _reduce(*scored[role], reduction) for role in roles}
    if m.needs_reference:
        ref = _score(reference_path, examples, roles, **kw)
        scale = beta if m.reward_scale == "beta" else alpha
        rewards = {role: scale * (logps[role] - _reduce(*ref[role], reduction)) for role in roles}
    else:
        rewards = {role: alpha * logps[role] for role in roles}
    result = {"n": len(records)}
    for role in ("real", "generated", "proto"):
        result[f"reward_{role}"] = rewards[role].mean().item() if role in rewards else None
    for role in ("real", "generated", "proto"):
        result[f"logp_{role}"] = logps[role].mean().item() if role in logps else None
    for role in ("real", "generated", "proto"):
        per_token = _reduce(*scored[role], "mean").mean().item() if role in scored else None
        result[f"logp_per_token_{role}"] = per_token
    for role in ("real", "generated", "proto"):
        result[f"tokens_{role}"] = scored[role][1].mean().item() if role in scored else None
    result["mismatch_share"] = mismatch_share(
        rewards["real"], rewards["generated"], logps["real"], logps["generated"]
    )
    return result


def _reduce(sums: Tensor, counts: Tensor, reduction: str) -> Tensor:
    return sums / counts.clamp(min=1) if reduction == "mean" else sums


def write_dynamics(
    path: str | Path,
    *,
    method: str,
    arm: str,
    iteration: int,
    seed: int,
    splits: dict[str, dict],
    micro: bool = False,
) -> None:
    """Write one checkpoint's dynamics (e.g. splits {"train": measure(...), "heldout": ...})
    atomically as JSON with schema spin-dynamics/1; `micro` marks a `spin run --micro` run."""
    write_json(
        path,
        {
            "schema": SCHEMA,
            "method": method,
            "arm": arm,
            "iteration": iteration,
            "seed": seed,
            "splits": splits,
            **({"micro": True} if micro else {}),
        },
    )
