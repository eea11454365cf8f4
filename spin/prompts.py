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


def chat_template_of(tokenizer) -> str:
    """The template chat prompts use: the tokenizer's own, else the Zephyr template, as the
    official code's get_tokenizer (SPIN's and the Alignment Handbook's) falls back to it;
    base Mistral-7B carries none."""
    return getattr(tokenizer, "chat_template", None) or ZEPHYR_TEMPLATE


def check_chat_template(template: str, where: str) -> None:
    """ConfigError naming `where` unless `template` renders a user turn and the generation
    prompt (checked at load time, before any stage runs)."""
    from jinja2 import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from spin.errors import ConfigError

    messages = [{"role": "system", "content": ""}, {"role": "user", "content": "Hi"}]
    try:
        text = (
            ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
            .from_string(template)
            .render(
                messages=messages, add_generation_prompt=True, bos_token="<s>", eos_token="</s>"
            )
        )
    except TemplateError as e:
        raise ConfigError(f"{where}: not a usable chat template ({e})") from None
    if "Hi" not in text:
        raise ConfigError(f"{where}: the chat template does not render the user's message")


def format_prompt(tokenizer, prompt: str, fmt: str) -> str:
    """Render a user prompt as the text the model continues."""
    if fmt == "alpaca":
        return ALPACA.format(prompt=prompt)
    if fmt == "chat":
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}],
            chat_template=chat_template_of(tokenizer),
            tokenize=False,
            add_generation_prompt=True,
        )
    raise ValueError(f"unknown prompt format '{fmt}' (alpaca or chat)")


def truncate_prompt(tokenizer, text: str, max_tokens: int) -> tuple[str, bool]:
    """Keep the last `max_tokens` tokens of a rendered prompt, as the official SPIN trainer
    did when prompt + response exceeded max_length. Returns (text, was_truncated)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) <= max_tokens:
        return text, False
    return tokenizer.decode(ids[-max_tokens:], skip_special_tokens=False), True
