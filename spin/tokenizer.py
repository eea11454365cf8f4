"""The real Mistral-7B tokenizer, offline: built from the SentencePiece model that the PyPI
package mistral-common ships (`mistral_common/data/tokenizer.model.v1`, 32,000 pieces), so the
golden tests and `--micro` runs see the recipes' exact tokens without the Hub.

Converting SentencePiece to a transformers tokenizer takes minutes on a small CPU, so the
converted folder is written once (atomically) into a cache keyed by the model file's sha256.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from importlib import resources
from pathlib import Path

from spin.errors import SpinError
from spin.io import atomic_dir, sha256_file
from spin.prompts import resolve_chat_template

MODEL_SHA256 = "dadfd56d766715c61d2ef780a525ab43b8e6da4de6865bda3d95fdef5e134055"
# Mistral-7B-v0.1's tokenizer_config.json settings that change tokens: BOS on, EOS off, and
# the legacy SentencePiece behaviour (a "▁" before the text after a special token, so Zephyr's
# `</s>\n` is [2, 28705, 13]), as the official code's transformers 4.37 tokenised. The Hub
# file is not readable here; `"legacy": true` in Mistral-7B-v0.1's tokenizer_config.json is as
# public reports quote it (llama.cpp issue #7094; tokenizers issue #1448 shows the difference).
SETTINGS = {"add_bos_token": True, "add_eos_token": False, "legacy": True}


def mistral_model_file() -> Path:
    """mistral-common's tokenizer.model.v1, checked against its known sha256."""
    try:
        path = Path(str(resources.files("mistral_common") / "data" / "tokenizer.model.v1"))
    except ModuleNotFoundError:
        raise SpinError("the Mistral tokenizer needs the mistral-common package") from None
    if not path.exists() or sha256_file(path) != MODEL_SHA256:
        raise SpinError(f"{path}: not mistral-common's tokenizer.model.v1 (sha256 {MODEL_SHA256})")
    return path


def mistral_tokenizer_dir(template: str | None = "zephyr", cache_dir: str | Path | None = None):
    """A tokenizer folder (tokenizer.json, tokenizer_config.json) of Mistral-7B-v0.1 with the
    given chat template: 'zephyr' (zephyr-7b-sft-full's, the Alignment Handbook's), None (base
    Mistral-7B has none), or Jinja text. Usable as `--tokenizer DIR` or saved beside a model."""
    base = _converted(Path(cache_dir) if cache_dir else _default_cache())
    chat_template = resolve_chat_template(template or "")
    if chat_template is None:
        return base
    key = hashlib.sha256(chat_template.encode()).hexdigest()[:12]
    out = base.parent / f"{base.name}-template-{key}"
    if not out.exists():
        with atomic_dir(out) as tmp:
            shutil.copytree(base, tmp, dirs_exist_ok=True)
            config = json.loads((tmp / "tokenizer_config.json").read_text())
            config["chat_template"] = chat_template
            (tmp / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    return out


def mistral_tokenizer(template: str | None = "zephyr", cache_dir: str | Path | None = None):
    """The transformers tokenizer of `mistral_tokenizer_dir(template, cache_dir)`."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(mistral_tokenizer_dir(template, cache_dir)))


def _converted(cache: Path) -> Path:
    out = cache / f"mistral-7b-v0.1-{MODEL_SHA256[:12]}"
    if out.exists():
        return out
    from transformers import LlamaTokenizer

    with atomic_dir(out) as tmp:
        shutil.copy(mistral_model_file(), tmp / "tokenizer.model")
        LlamaTokenizer.from_pretrained(str(tmp), **SETTINGS).save_pretrained(str(tmp))
        (tmp / "tokenizer.model").unlink()  # tokenizer.json holds it; loading stays fast
        config = json.loads((tmp / "tokenizer_config.json").read_text())
        config.update(SETTINGS)
        (tmp / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    return out


def _default_cache() -> Path:
    # The same root as MT-Bench's data cache (spin.eval.mtbench.cache_dir).
    root = (
        os.environ.get("SPIN_CACHE_DIR")
        or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "spin"
    )
    return Path(root) / "tokenizers"
