"""TrainingArguments shared by every trainer: device, precision, optimizer, checkpoints."""

from __future__ import annotations

from pathlib import Path

import torch


def weights_dtype(dtype: str, args) -> str:
    """The dtype the trainers load the weights in, for the recipe's model.dtype.

    Pure 16-bit weights lose the updates: at the paper's learning rates a step is far below
    bf16's resolution (8 bits of mantissa): issue 11 measured 8,895 of 330,112 tiny-model
    parameters changed at lr 5e-7 in pure bf16, against 330,040 in fp32. So the weights (the
    optimizer's master copy) stay fp32 and the 16-bit dtype is the autocast dtype
    (common_args). Under DeepSpeed the weights load in the 16-bit dtype, as the official code
    does: DeepSpeed's bf16 mode keeps the fp32 master copy itself, in its sharded optimizer
    state."""
    return dtype if args.deepspeed_plugin is not None else "float32"


def common_args(cfg, output_dir: Path, seed: int, dtype: str) -> dict:
    """Keyword arguments for TRL configs (SFTConfig, DPOConfig) from our TrainingConfig or
    SFTConfig. dtype bfloat16 trains fp32 weights under bf16 autocast, on GPUs and on CPUs
    (use_cpu, where TRL's bf16 default without use_cpu fails); float16 uses fp16 mixed
    precision on GPUs, fp32 on CPUs (no fp16 autocast there)."""
    # Sigmoid losses on summed log-probs send gradients of e^-50 and smaller through the
    # backward pass; on CPUs, denormal floats make that pass ~4x slower (measured on the
    # T-SPIN step). Flushing them to zero changes values below 1e-38 only. No effect on GPUs.
    # The flag is per thread: `spin` sets it at start-up (spin.cli), before torch's thread
    # pool exists; this call covers library use from the calling thread at least.
    torch.set_flush_denormal(True)
    cuda = torch.cuda.is_available()
    return dict(
        output_dir=str(output_dir),
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.num_train_epochs,
        max_steps=getattr(cfg, "max_steps", -1),
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        optim=cfg.optimizer,
        lr_scheduler_type=cfg.lr_scheduler_type,
        # transformers 5 folded warmup_ratio into warmup_steps: a float in [0, 1) is a ratio.
        warmup_steps=float(cfg.warmup_ratio),
        weight_decay=cfg.weight_decay,
        gradient_checkpointing=cfg.gradient_checkpointing,
        logging_steps=cfg.logging_steps,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=1,
        seed=seed,
        data_seed=seed,
        use_cpu=not cuda,
        bf16=dtype == "bfloat16",
        fp16=cuda and dtype == "float16",
        report_to="none",
        disable_tqdm=False,
        dataloader_num_workers=0,
    )


def load_for_training(model_path: str, dtype: str, args):
    """(model, tokenizer) that a trainer starts from, with a pad token (EOS if none); the
    weights in weights_dtype(dtype, args).

    `args` is the stage's TrainingArguments, so they exist before the weights load, as in the
    official code: under `accelerate launch` with ZeRO-3 their DeepSpeed plugin holds the live
    HfDeepSpeedConfig, and from_pretrained then partitions each weight across the ranks as it
    loads (zero.Init) instead of every rank holding the whole model in host memory. The
    caller keeps `args` alive until training ends (the config is held by weak reference)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(
        model_path, dtype=getattr(torch, weights_dtype(dtype, args))
    )
    # Under ZeRO-3, zero.Init partitions each weight as it loads: this counts the parameters
    # that arrived partitioned (sharding() reports it; the launcher tests assert it).
    model.spin_partitioned_at_load = sum(
        hasattr(p, "ds_tensor") and p.ds_tensor.numel() < p.ds_numel for p in model.parameters()
    )
    return model, tokenizer


def last_checkpoint(output_dir: Path) -> str | None:
    """The newest complete HF Trainer checkpoint in output_dir, to resume a killed stage.

    A kill while a checkpoint is being written leaves its folder without a readable
    trainer_state.json, which the Trainer writes last (after weights, optimizer and RNG
    state); resuming from it fails, so it is skipped for the one before."""
    import json

    checkpoints = sorted(
        Path(output_dir).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1])
    )
    for ckpt in reversed(checkpoints):
        try:
            json.loads((ckpt / "trainer_state.json").read_text())
        except (OSError, ValueError):
            continue
        return str(ckpt)
    return None


def mixed_precision(trainer) -> bool:
    """Whether the stage computes in 16 bits: autocast (bf16/fp16 arguments), DeepSpeed's
    16-bit weights or FSDP2's mixed-precision policy (the accelerate config's setting)."""
    return bool(
        trainer.args.bf16 or trainer.args.fp16 or trainer.accelerator.mixed_precision != "no"
    )


def fp32_outputs(accelerator) -> None:
    """Under FSDP2 with mixed precision, have the model return float32 outputs.

    accelerate 1.15 builds FSDP2's MixedPrecisionPolicy with output_dtype = the 16-bit dtype,
    so the per-token log-probs (which TRL's fused LM head computes in float32) come back in
    bf16, and TRL's DPOTrainer sums them in bf16: the sum of a few hundred log-probs of -1 to
    -10 in 8 mantissa bits is off by whole nats. The 16-bit compute (param_dtype) stays; only
    the cast of the outputs goes. Call before the Trainer prepares the model (train())."""
    import dataclasses

    plugin = getattr(accelerator.state, "fsdp_plugin", None)
    policy = getattr(plugin, "mixed_precision_policy", None)
    if policy is not None and getattr(policy, "output_dtype", None) not in (None, torch.float32):
        plugin.mixed_precision_policy = dataclasses.replace(policy, output_dtype=torch.float32)


def finish(trainer, output_dir: Path, model_dir: Path, invariants: dict | None = None) -> dict:
    """Save the final model (and tokenizer) to model_dir, drop intermediate checkpoints,
    and return the log history, the launcher's sharding and the step-0 invariants' numbers."""
    import shutil

    trainer.save_model(str(model_dir))
    if trainer.accelerator.is_main_process:
        trainer.processing_class.save_pretrained(str(model_dir))
        for ckpt in Path(output_dir).glob("checkpoint-*"):
            shutil.rmtree(ckpt, ignore_errors=True)
    return {
        "log_history": trainer.state.log_history,
        "sharding": sharding(trainer),
        "invariants": invariants or {},
    }


def sharding(trainer) -> dict:
    """How the trained model was distributed: the launcher (accelerate's distributed type,
    the ZeRO stage), and whether the parameters really were sharded, so a test can tell a
    sharded launch from one that fell back to data parallel: FSDP2 (an FSDPModule whose
    parameters are DTensors) or ZeRO-3 (parameters whose local ds_tensor holds part of
    their ds_numel elements)."""
    from torch.distributed.fsdp import FSDPModule
    from torch.distributed.tensor import DTensor

    model = trainer.model_wrapped
    params = list(model.parameters())
    ds = trainer.accelerator.state.deepspeed_plugin
    return {
        "distributed_type": str(trainer.accelerator.distributed_type).split(".")[-1],
        "num_processes": trainer.accelerator.num_processes,
        "mixed_precision": trainer.accelerator.mixed_precision,
        "zero_stage": ds.zero_stage if ds is not None else None,
        "fsdp2": isinstance(model, FSDPModule),
        "dtensor_params": sum(isinstance(p, DTensor) for p in params),
        "zero3_partitioned_params": sum(
            hasattr(p, "ds_tensor") and p.ds_tensor.numel() < p.ds_numel for p in params
        ),
        "zero3_partitioned_at_load": getattr(trainer.model, "spin_partitioned_at_load", None),
        "params": len(params),
    }
