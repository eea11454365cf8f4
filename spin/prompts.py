"""Prompt formats. The SPIN paper generates with an Alpaca prompt but trains with the chat
template (the official repo's mismatch, issues #9/#33): both are available, per stage."""

from __future__ import annotations

ALPACA = "### Instruction: {prompt}\n\n### Response: "

# The Zephyr template: the Alignment Handbook's DEFAULT_CHAT_TEMPLATE, checked byte for byte
# against 61a11a5's src/alignment/data.py (the commit SPIN's README links). That commit's
# get_tokenizer sets it when the model has none (Mistral-7B-v0.1 has none; the Zephyr SFT recipe
# sets no chat_template), and save_pretrained stores it in zephyr-7b-sft-full's
# tokenizer_config.json; the Hub file itself is not readable here. Character for character also
# uclaml/SPIN's (spin/alignment/data.py at a12ba80, the fallback of its get_tokenizer).
# Rendered: `<|user|>\n{content}</s>\n`, one turn per line. The string is verbatim, so its
# lines keep their length (noqa: E501).
ZEPHYR_TEMPLATE = (
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n"  # noqa: E501
    "{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n"  # noqa: E501
    "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n"  # noqa: E501
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


# The assistant prefix the official trainer strips from each rendered response.
ASSISTANT_PREFIX = "<|assistant|>\n"


def format_prompt(tokenizer, prompt: str, fmt: str, layout: str = "clean") -> str:
    """Render a user prompt as the text the model continues. In the official layout the chat
    prompt starts with an empty system turn, as uclaml/SPIN's trainer (and the Alignment
    Handbook SFT that made θ0) inserted one."""
    if fmt == "alpaca":
        return ALPACA.format(prompt=prompt)
    if fmt == "chat":
        messages = [{"role": "user", "content": prompt}]
        if layout == "official":
            messages.insert(0, {"role": "system", "content": ""})
        return tokenizer.apply_chat_template(
            messages,
            chat_template=chat_template_of(tokenizer),
            tokenize=False,
            add_generation_prompt=True,
        )
    raise ValueError(f"unknown prompt format '{fmt}' (alpaca or chat)")


def format_response(tokenizer, response: str, layout: str) -> str:
    """The text of one response as the trainer tokenises it. official: the chat template's
    rendering of the assistant turn with the assistant prefix stripped (Zephyr's gives
    `content</s>\n`); the tokeniser appends one more EOS. clean: the content + EOS (added only
    if missing, as TRL does)."""
    if layout == "official":
        text = tokenizer.apply_chat_template(
            [{"role": "assistant", "content": response}],
            chat_template=chat_template_of(tokenizer),
            tokenize=False,
        )
        return text.removeprefix(ASSISTANT_PREFIX)
    eos = tokenizer.eos_token
    return response if response.endswith(eos) else response + eos


def truncate_prompt(tokenizer, text: str, max_tokens: int) -> tuple[str, bool]:
    """Keep the last `max_tokens` tokens of a rendered prompt, as the official SPIN trainer
    did when prompt + response exceeded max_length. Returns (text, was_truncated)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) <= max_tokens:
        return text, False
    return tokenizer.decode(ids[-max_tokens:], skip_special_tokens=False), True


def generation_input_ids(tokenizer, texts: list[str], layout: str, **kwargs):
    """The generator's tokenisation of rendered prompts: without special tokens in the official
    layout (generate.py's `add_special_tokens=False`), with the tokenizer's BOS in the clean one.
    Extra kwargs (padding, return_tensors) go to the tokenizer."""
    return tokenizer(texts, add_special_tokens=layout == "clean", **kwargs)


def clean_generation(text: str, layout: str, eos_token: str) -> str:
    """A decoded response as stored. official: generate.py's `replace("</s>", "").lstrip()` on
    text decoded with special tokens (EOS and the pads after it; Mistral's EOS is `</s>`);
    clean: `strip()` on text decoded without them."""
    if layout == "official":
        return text.replace(eos_token, "").lstrip()
    return text.strip()
