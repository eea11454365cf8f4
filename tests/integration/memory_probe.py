"""Measure the peak host memory of one SPIN-shaped training step on CPU (run as a script).

Peak = the process's high-water RSS (VmHWM) minus its RSS before the model exists.
RSS, not tracemalloc: torch allocates tensors with malloc, outside Python's allocator.
VmHWM, not ru_maxrss: Linux carries the parent's RSS into a child's ru_maxrss across
fork and exec, so inside a test suite holding gigabytes ru_maxrss measured the suite (the
formula then read 0.24-0.40 of it); VmHWM belongs to the address space exec made.
Run with MALLOC_MMAP_THRESHOLD_=65536 so every tensor buffer is its own mmap, returned to
the OS when freed: RSS then follows the live tensors instead of glibc's cached heap.
The step is what TRL's DPOTrainer does for SPIN: chosen and rejected concatenated in one
forward, TRL's selective_log_softmax, the sigmoid loss, backward, RMSProp. The second
step is measured (the first creates the optimizer state). Prints one JSON object.
"""

import json
import resource
import sys


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def high_water_rss() -> int:
    with open("/proc/self/status") as f:
        kib = next(line.split()[1] for line in f if line.startswith("VmHWM:"))
    return int(kib) * 1024


def main(spec: dict) -> dict:
    # imported here, so the RSS helpers above can be imported without torch
    import torch
    from transformers import MistralConfig, MistralForCausalLM
    from trl.trainer.utils import selective_log_softmax

    torch.manual_seed(0)
    b, seqs, length = spec["batch"], spec["sequences"], spec["max_length"]
    ids = torch.randint(0, spec["vocab_size"], (b * seqs, length))
    config = MistralConfig(
        hidden_size=spec["hidden_size"],
        num_hidden_layers=spec["num_layers"],
        num_attention_heads=spec["num_heads"],
        num_key_value_heads=spec["num_kv_heads"],
        intermediate_size=spec["intermediate_size"],
        vocab_size=spec["vocab_size"],
        attn_implementation="sdpa",
        tie_word_embeddings=False,
    )
    before = rss()
    model = MistralForCausalLM(config).train()
    if spec["gradient_checkpointing"]:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-6)
    for _ in range(2):
        logits = model(input_ids=ids).logits
        logps = selective_log_softmax(logits[:, :-1], ids[:, 1:]).sum(-1)
        loss = -torch.nn.functional.logsigmoid(logps[:b] - logps[b:]).mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        del logits, logps, loss
    peak = high_water_rss()
    n_params = sum(p.numel() for p in model.parameters())
    return {"peak_bytes": peak - before, "n_params": n_params}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
