"""Training dynamics (T-SPIN's Figures 3 and 7): rewards and log-likelihoods of y, y′, y₀.

The paper's observation: under SPIN the annotated y ends with a higher reward than the
model's own y′ but a lower log-likelihood ("nearly half" of the samples are mismatched in
this way), while under T-SPIN, whose reward is the log-likelihood itself, the two agree.
`measure` scores one checkpoint on a set of records; `write_dynamics` stores the result.

Log-probs here are computed from the models' logits with a plain forward pass,
independently of the trainers' fused LM head, so the two cross-check each other in tests.
"""

from __future__ import annotations

import gc
from pathlib import Path

import torch
from torch import Tensor

from spin.io import write_json
from spin.prompts import format_prompt, truncate_prompt

SCHEMA = "spin-dynamics/1"
# Methods whose reward is a log-ratio against the reference (β for SPIN, α for T-SPIN_ref),
# and those whose reward is α·log πθ (T-SPIN and its no-historical-advantage ablation).
REFERENCE_METHODS = ("spin", "tspin_ref")
REFERENCE_FREE_METHODS = ("tspin", "tspin_noha")


def encode(tokenizer, prompt: str, response: str) -> tuple[list[int], list[int]]:
    """(prompt ids, response + EOS ids), split where the tokenised prompt and prompt +
    response diverge, as the trainers do (a BPE merge across the boundary moves it)."""
    eos = tokenizer.eos_token
    text = response if response.endswith(eos) else response + eos
    prompt_ids = tokenizer(prompt)["input_ids"]
    full_ids = tokenizer(prompt + text)["input_ids"]
    n = 0
    for a, b in zip(prompt_ids, full_ids, strict=False):
        if a != b:
            break
        n += 1
    return full_ids[:n], full_ids[n:]


@torch.no_grad()
def sequence_logps(
    model,
    tokenizer,
    prompts: list[str],
    responses: list[str],
    *,
    batch_size: int = 16,
    reduction: str = "sum",
    max_length: int | None = None,
) -> Tensor:
    """log π(response + EOS | prompt) for each pair, summed (or averaged) over response
    tokens; prompts are rendered text. Sequences are right-padded and, with max_length,
    cut to their first max_length tokens like the trainers. Returns a float32 CPU tensor."""
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction '{reduction}' is not sum or mean")
    pad_id = (
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    )
    device = next(model.parameters()).device
    encoded = []
    for prompt, response in zip(prompts, responses, strict=True):
        p, r = encode(tokenizer, prompt, response)
        ids, mask = p + r, [0] * len(p) + [1] * len(r)
        if max_length is not None:
            ids, mask = ids[:max_length], mask[:max_length]
        encoded.append((ids, mask))
    # Longest first, so batches hold similar lengths (less padding) and memory peaks early.
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i][0]))
    out = torch.empty(len(encoded), dtype=torch.float32)
    was_training = model.training
    model.eval()
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        width = max(len(encoded[i][0]) for i in idx)
        ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
        attention = torch.zeros((len(idx), width), dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.float32)
        for row, i in enumerate(idx):
            seq, m = encoded[i]
            ids[row, : len(seq)] = torch.tensor(seq)
            attention[row, : len(seq)] = 1
            mask[row, : len(m)] = torch.tensor(m, dtype=torch.float32)
        ids, attention, mask = ids.to(device), attention.to(device), mask.to(device)
        logits = model(input_ids=ids, attention_mask=attention, use_cache=False).logits
        # Token t is predicted from position t − 1.
        logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        token_logps = logprobs.gather(-1, ids[:, 1:, None]).squeeze(-1) * mask[:, 1:]
        del logits, logprobs
        logps = token_logps.sum(dim=1)
        if reduction == "mean":
            logps = logps / mask[:, 1:].sum(dim=1).clamp(min=1)
        out[torch.tensor(idx)] = logps.cpu()
    model.train(was_training)
    return out


def _score(
    model_path: str,
    tokenizer,
    prompts: list[str],
    responses: dict[str, list[str]],
    *,
    dtype: str,
    **kw,
) -> dict[str, Tensor]:
    """Load one model, score every role's responses, free the model."""
    from transformers import AutoModelForCausalLM

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, dtype)).to(device)
    try:
        return {
            role: sequence_logps(model, tokenizer, prompts, texts, **kw)
            for role, texts in responses.items()
        }
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
    reduction: str = "sum",
    batch_size: int = 16,
    dtype: str = "float32",
) -> dict:
    """Mean rewards and log-probs of y (real), y′ (generated) and y₀ (proto, if the records
    have it) under policy_path, and the mismatch share.

    Rewards: spin β(log πθ − log πref), tspin_ref α(log πθ − log πref), with the reference
    loaded from reference_path after the policy is freed (never both at once); tspin and
    tspin_noha α·log πθ. Records: {"prompt" (raw user text), "real", "generated", "proto"?}.
    """
    if method not in REFERENCE_METHODS + REFERENCE_FREE_METHODS:
        raise ValueError(
            f"method '{method}' is not one of {REFERENCE_METHODS + REFERENCE_FREE_METHODS}"
        )
    if method in REFERENCE_METHODS and not reference_path:
        raise ValueError(f"method '{method}' needs reference_path (its reward is a log-ratio)")
    if not records:
        raise ValueError("no records to measure")
    roles = ["real", "generated"] + (["proto"] if all("proto" in r for r in records) else [])
    prompts = [
        truncate_prompt(
            tokenizer, format_prompt(tokenizer, r["prompt"], prompt_format), max_prompt_length
        )[0]
        for r in records
    ]
    responses = {role: [r[role] for r in records] for role in roles}
    kw = dict(batch_size=batch_size, reduction=reduction, dtype=dtype)
    logps = _score(policy_path, tokenizer, prompts, responses, **kw)
    if method in REFERENCE_METHODS:
        ref = _score(reference_path, tokenizer, prompts, responses, **kw)
        scale = beta if method == "spin" else alpha
        rewards = {role: scale * (logps[role] - ref[role]) for role in roles}
    else:
        rewards = {role: alpha * logps[role] for role in roles}
    result = {"n": len(records)}
    for role in ("real", "generated", "proto"):
        result[f"reward_{role}"] = rewards[role].mean().item() if role in rewards else None
    for role in ("real", "generated", "proto"):
        result[f"logp_{role}"] = logps[role].mean().item() if role in logps else None
    for role in ("real", "generated", "proto"):  # per token too: y and y′ differ in length
        if role not in logps:
            result[f"logp_per_token_{role}"] = None
            continue
        tokens = torch.tensor([len(encode(tokenizer, p, r)[1]) for p, r in zip(prompts, responses[role], strict=True)],
                              dtype=torch.float32)  # fmt: skip
        per_token = logps[role] if reduction == "mean" else logps[role] / tokens.clamp(min=1)
        result[f"logp_per_token_{role}"] = per_token.mean().item()
    result["mismatch_share"] = mismatch_share(
        rewards["real"], rewards["generated"], logps["real"], logps["generated"]
    )
    return result


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
