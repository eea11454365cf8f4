"""The real Mistral-7B tokenizer, built offline from the `mistral-common` wheel.

`mistral_common/data/tokenizer.model.v1` is Mistral-7B-v0.1's SentencePiece model (32,000
pieces). transformers converts it into the same fast tokenizer the Hub's
mistralai/Mistral-7B-v0.1 loads (BOS added, no EOS, legacy spacing), so micro runs and
token-level tests see the 7B recipes' exact token ids without reaching the Hub.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from spin.errors import SpinError

SHA256 = "dadfd56d766715c61d2ef780a525ab43b8e6da4de6865bda3d95fdef5e134055"


def sentencepiece_file() -> Path:
    """The wheel's tokenizer.model.v1, checked against its known sha256."""
    try:
        import mistral_common
    except ImportError:
        raise SpinError("the Mistral tokenizer needs the mistral-common package") from None
    path = Path(mistral_common.__file__).parent / "data" / "tokenizer.model.v1"
    if not path.exists():
        raise SpinError(f"{path} not found: mistral-common ships no tokenizer.model.v1")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SHA256:
        raise SpinError(f"{path}: sha256 {digest}, expected {SHA256} (Mistral-7B-v0.1's)")
    return path


def build_mistral_tokenizer(*, chat_template: str | None = None, pad_token: str | None = None):
    """Mistral-7B-v0.1's tokenizer (its tokenizer_config: add_bos_token, no EOS, legacy),
    with the given chat template (None: like the base model, which has none)."""
    from transformers import LlamaTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        # LlamaTokenizer converts a folder's tokenizer.model (SentencePiece) to a fast one.
        shutil.copyfile(sentencepiece_file(), Path(tmp) / "tokenizer.model")
        tokenizer = LlamaTokenizer.from_pretrained(
            tmp, legacy=True, add_bos_token=True, add_eos_token=False
        )
    if chat_template:
        tokenizer.chat_template = chat_template
    if pad_token:
        tokenizer.pad_token = pad_token
    return tokenizer
