"""An independent reference for the official layout: what uclaml/SPIN (main at a12ba80) feeds
its model, written here from that code's behaviour, step by step as it does it, without
spin.train.dataset or spin.prompts:

- run_spin.py `apply_chat_template`: prompt = [empty system turn, the user turn] rendered with
  the generation prompt; each response = the template's rendering of [assistant turn] with a
  leading "<|assistant|>\\n" removed (re.sub on "^...");
- alignment/utils.py `DataCollatorWithPadding.tokenize_batch_element`: prompt and responses
  tokenised with add_special_tokens=False; attention 0 at every EOS index of each; one EOS
  (attention 1) appended to each response; if prompt + longer response > max_length the prompt
  keeps its last max_prompt_length tokens (keep_end); if still too long (same longer length)
  every response keeps its first max_length − max_prompt_length; labels = ids with the prompt
  positions at −100;
- generate.py: "### Instruction: {p}\\n\\n### Response: " tokenised with add_special_tokens=False.

Extended to triplets by treating y₀ as a third response (the longer length is over all three).
"""

from __future__ import annotations

import re


def official_prompt_text(tokenizer, prompt: str) -> str:
    messages = [{"role": "user", "content": prompt}]
    messages.insert(0, {"role": "system", "content": ""})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def official_response_text(tokenizer, response: str) -> str:
    text = tokenizer.apply_chat_template(
        [{"role": "assistant", "content": response}], tokenize=False
    )
    return re.sub("^" + re.escape("<|assistant|>\n"), "", text)


def official_generation_ids(tokenizer, prompt: str) -> list[int]:
    text = "### Instruction: " + prompt + "\n\n### Response: "
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def official_sequences(
    tokenizer, prompt: str, responses: dict[str, str], max_length: int, max_prompt_length: int
) -> dict[str, dict[str, list[int]]]:
    eos = tokenizer.eos_token_id
    prompt_tokens = dict(
        tokenizer(official_prompt_text(tokenizer, prompt), add_special_tokens=False)
    )
    eos_at = [i for i, x in enumerate(prompt_tokens["input_ids"]) if x == eos]
    prompt_tokens["attention_mask"] = [
        0 if i in eos_at else p for i, p in enumerate(prompt_tokens["attention_mask"])
    ]
    tokens = {}
    for role, text in responses.items():
        t = dict(tokenizer(official_response_text(tokenizer, text), add_special_tokens=False))
        eos_at = [i for i, x in enumerate(t["input_ids"]) if x == eos]
        t["attention_mask"] = [0 if i in eos_at else p for i, p in enumerate(t["attention_mask"])]
        t["input_ids"].append(eos)
        t["attention_mask"].append(1)
        tokens[role] = t
    longer = max(len(t["input_ids"]) for t in tokens.values())
    if len(prompt_tokens["input_ids"]) + longer > max_length:
        prompt_tokens = {k: v[-max_prompt_length:] for k, v in prompt_tokens.items()}
    if len(prompt_tokens["input_ids"]) + longer > max_length:
        tokens = {
            role: {k: v[: max_length - max_prompt_length] for k, v in t.items()}
            for role, t in tokens.items()
        }
    out = {}
    for role, t in tokens.items():
        seq = {k: prompt_tokens[k] + t[k] for k in ("input_ids", "attention_mask")}
        n = len(prompt_tokens["input_ids"])
        seq["labels"] = [-100] * n + seq["input_ids"][n:]
        out[role] = seq
    return out
