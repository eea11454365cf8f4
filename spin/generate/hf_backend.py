"""HF transformers generation: the official generate.py path (left padding, batches)."""

from __future__ import annotations

import torch

from spin.config import GenerationConfig
from spin.prompts import generation_input_ids


class HFBackend:
    """Batched `model.generate`; greedy when temperature is 0."""

    def __init__(
        self,
        model_path: str,
        cfg: GenerationConfig,
        *,
        dtype: str = "float32",
        model=None,
        tokenizer=None,
    ):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.cfg = cfg
        self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(model_path)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = model or AutoModelForCausalLM.from_pretrained(
            model_path, dtype=getattr(torch, dtype)
        )
        self.model.to(self.device).eval()

    @torch.no_grad()
    def generate(self, texts: list[str], seeds: list[int]) -> list[str]:
        out: list[str] = []
        sample = self.cfg.temperature > 0
        for b in range(0, len(texts), self.cfg.batch_size):
            batch = texts[b : b + self.cfg.batch_size]
            # One seed per batch (its first record's): HF sampling has no per-row generator,
            # and batches are fixed by the record order, so resume stays reproducible.
            torch.manual_seed(seeds[b])
            enc = generation_input_ids(
                self.tokenizer, batch, self.cfg.layout, return_tensors="pt", padding=True
            ).to(self.device)
            gen = self.model.generate(
                **enc,
                max_new_tokens=self.cfg.max_new_tokens,
                do_sample=sample,
                temperature=self.cfg.temperature if sample else None,
                top_p=self.cfg.top_p if sample else None,
                top_k=None,
                pad_token_id=self.tokenizer.pad_token_id,
            )
            new = gen[:, enc["input_ids"].shape[1] :]
            # Raw text; generate_file cleans it up (spin.prompts.clean_generation).
            skip = self.cfg.layout == "clean"
            out.extend(self.tokenizer.batch_decode(new, skip_special_tokens=skip))
        return out
