"""FSDP on CPU processes under `accelerate launch`: the micro runs of FSDP recipes and the
launcher tests.

accelerate 1.15 turns its FSDP plugin on only for GPU-like devices. In
`AcceleratorState.__init__` (accelerate/state.py) the plugin is kept only when
`self.distributed_type in [MULTI_GPU, MULTI_MLU, ..., MULTI_NEURON]`; a run with `cpu=True`
(our TrainingArguments(use_cpu=True) without CUDA) is MULTI_CPU from
`PartialState._prepare_backend`, so the FSDP config's plugin is dropped and the Trainer
trains plain DDP, silently (ACCELERATE_USE_FSDP=true, fsdp_plugin None). torch's
`fully_shard` itself runs on CPU tensors with gloo, and accelerate's FSDP2 path
(`Accelerator.prepare_model` -> `fsdp2_prepare_model`) has no CUDA-only step.

`enable()` keeps the plugin on CPU: after accelerate's own __init__, a MULTI_CPU state that
was given an FSDP plugin becomes DistributedType.FSDP with that plugin, exactly what the
MULTI_GPU branch does. Everything after that (wrapping, sharding, mixed precision,
FULL_STATE_DICT saving) is accelerate's and transformers' own GPU code path. It is active
only without CUDA and only when the accelerate config asks for FSDP; on a GPU it does
nothing.
"""

from __future__ import annotations

import os


def enable() -> bool:
    """Install the shim if this process is a CPU process of an FSDP launch; True if so."""
    import torch

    if torch.cuda.is_available() or os.environ.get("ACCELERATE_USE_FSDP", "").lower() != "true":
        return False
    from accelerate.state import AcceleratorState, PartialState
    from accelerate.utils import DistributedType

    init = AcceleratorState.__init__
    if getattr(init, "spin_cpu_fsdp", False):
        return True

    def __init__(self, *args, fsdp_plugin=None, **kwargs):
        init(self, *args, fsdp_plugin=fsdp_plugin, **kwargs)
        if fsdp_plugin is not None and self.distributed_type == DistributedType.MULTI_CPU:
            # the MULTI_GPU branch of AcceleratorState.__init__, for CPU processes
            self.distributed_type = DistributedType.FSDP
            if self._mixed_precision != "no":
                fsdp_plugin.set_mixed_precision(self._mixed_precision)
            self.fsdp_plugin = fsdp_plugin
            PartialState._shared_state["distributed_type"] = self.distributed_type

    __init__.spin_cpu_fsdp = True
    AcceleratorState.__init__ = __init__
    return True
