"""Prompt formats. The SPIN paper generates with an Alpaca prompt but trains with the chat
template (the official repo's mismatch, issues #9/#33): both are available, per stage."""

from __future__ import annotations

ALPACA = "### Instruction: {prompt}\n\n### Response: "

# HuggingFaceH4/zephyr-7b-beta's template (the Alignment Handbook's SFT recipe).
ZEPHYR_TEMPLATE = (
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n"
    "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}"
)


def resolve_chat_template(spec: str) -> str | None:
    """'' -> None (keep the tokenizer's), 'zephyr' -> the Zephyr template, else spec itself."""
    if not spec:
        return None
    return ZEPHYR_TEMPLATE if spec == "zephyr" else spec


def format_prompt(tokenizer, prompt: str, fmt: str) -> str:
    """Render a user prompt as the text the model continues."""
    if fmt == "alpaca":
        return ALPACA.format(prompt=prompt)
    if fmt == "chat":
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError("prompt_format 'chat' needs a tokenizer with a chat template")
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
    raise ValueError(f"unknown prompt format '{fmt}' (alpaca or chat)")


def truncate_prompt(tokenizer, text: str, max_tokens: int) -> tuple[str, bool]:
    """Keep the last `max_tokens` tokens of a rendered prompt, as the official SPIN trainer
    did when prompt + response exceeded max_length. Returns (text, was_truncated)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) <= max_tokens:
        return text, False
    return tokenizer.decode(ids[-max_tokens:], skip_special_tokens=False), True
