"""HF transformers generation: the official generate.py path (left padding, batches)."""

from __future__ import annotations

import torch
from transformers import (
    LogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from spin.config import GenerationConfig
from spin.prompts import generation_input_ids


class RecordSampler(LogitsProcessor):
    """Samples each row with its own torch.Generator, seeded by its record alone.

    `model.generate(do_sample=True)` draws all rows from the global RNG, so a record's response
    would depend on which records share its batch, and a resume that re-cuts the batches would
    change it. This processor applies HF sampling's warpers in its order (temperature, top-k,
    top-p),
    draws the next token per row, and returns scores whose argmax is that token, so greedy
    `generate` stays batched while the randomness follows the record.
    """

    def __init__(self, seeds: list[int], temperature: float, top_p: float, top_k: int | None):
        self.generators = [torch.Generator().manual_seed(s) for s in seeds]
        self.warpers = []
        if temperature != 1.0:
            self.warpers.append(TemperatureLogitsWarper(temperature))
        if top_k is not None:
            self.warpers.append(TopKLogitsWarper(top_k=top_k, min_tokens_to_keep=1))
        if top_p < 1.0:
            self.warpers.append(TopPLogitsWarper(top_p=top_p, min_tokens_to_keep=1))

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.Tensor:
        for warper in self.warpers:
            scores = warper(input_ids, scores)
        probs = torch.softmax(scores.float(), dim=-1).cpu()
        picks = [
            torch.multinomial(p, 1, generator=g)
            for p, g in zip(probs, self.generators, strict=True)
        ]
        chosen = torch.full_like(scores, float("-inf"))
        chosen.scatter_(1, torch.cat(picks).to(scores.device).unsqueeze(1), 0.0)
        return chosen


class HFBackend:
    """Batched `model.generate`; greedy when temperature is 0, else sampled per record."""

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

    def generate(self, texts: list[str], seeds: list[int]) -> list[str]:
        """One response per text; `seeds[i]` alone determines text i's sampling."""
        out: list[str] = []
        # Raw text; generate_file cleans it up (spin.prompts.clean_generation).
        skip = self.cfg.layout == "clean"
        for _, new in self.generate_ids(texts, seeds):
            out.extend(self.tokenizer.batch_decode(new, skip_special_tokens=skip))
        return out

    @torch.no_grad()
    def generate_ids(self, texts: list[str], seeds: list[int]):
        """Per batch of cfg.batch_size texts: (the tokenizer's left-padded encoding of the
        batch, the generated ids after it, padded after any EOS)."""
        sample = self.cfg.temperature > 0
        for b in range(0, len(texts), self.cfg.batch_size):
            batch = texts[b : b + self.cfg.batch_size]
            enc = generation_input_ids(
                self.tokenizer, batch, self.cfg.layout, return_tensors="pt", padding=True
            ).to(self.device)
            processors = (
                [
                    RecordSampler(
                        seeds[b : b + len(batch)],
                        self.cfg.temperature,
                        self.cfg.top_p,
                        self.cfg.top_k,
                    )
                ]
                if sample
                else []
            )
            gen = self.model.generate(
                **enc,
                max_new_tokens=self.cfg.max_new_tokens,
                do_sample=False,  # sampling, when asked, is RecordSampler's argmax
                temperature=None,
                top_p=None,
                top_k=None,
                logits_processor=processors,
                pad_token_id=self.tokenizer.pad_token_id,
            )
            yield enc, gen[:, enc["input_ids"].shape[1] :]
