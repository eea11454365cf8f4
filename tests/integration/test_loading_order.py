"""Every trainer loads its weights after its TrainingArguments exist, and keeps them alive:
under ZeRO-3 the arguments hold the live DeepSpeed config that makes from_pretrained shard
the weights as they load (zero.Init), as in the official code. DeepSpeed cannot run here, so
a spy checks the order itself."""

from __future__ import annotations

import weakref

import pytest
from transformers import AutoTokenizer, PreTrainedModel, TrainingArguments

from spin.config import SFTConfig, TrainingConfig
from spin.train.command import run_training
from spin.train.dataset import build_dataset


class Loaded(Exception):
    """Raised by the spy at the first model load: the order is known, no training needed."""


@pytest.mark.parametrize("method", ["sft", "spin", "tspin", "tspin_ref"])
def test_weights_load_after_the_training_arguments(
    method, tiny_model_dir, tiny_items, tmp_path, monkeypatch
):
    records = [{"prompt": i["prompt"], "real": i["answer"], "generated": "0"} for i in tiny_items]
    build_dataset(
        records[:8],
        AutoTokenizer.from_pretrained(tiny_model_dir),
        kind="pairs",
        prompt_format="chat",
        max_prompt_length=48,
        out_dir=tmp_path / "data",
    )
    events: list[tuple] = []
    post_init = TrainingArguments.__post_init__

    def spy_args(self):
        post_init(self)
        events.append(("args", weakref.ref(self)))

    def spy_load(cls, *args, **kwargs):
        # whether the stage's arguments are still alive (their weakref) as the weights load
        events.append(("load", events[-1][1]() is not None if events else False))
        raise Loaded

    monkeypatch.setattr(TrainingArguments, "__post_init__", spy_args)
    monkeypatch.setattr(PreTrainedModel, "from_pretrained", classmethod(spy_load))
    cfg = SFTConfig() if method == "sft" else TrainingConfig()
    with pytest.raises(Loaded):
        run_training(
            method,
            str(tiny_model_dir),
            tmp_path / "data",
            tmp_path / "out",
            cfg,
            seed=0,
            dtype="bfloat16",
        )
    assert [kind for kind, _ in events] == ["args", "load"]
    assert events[1][1] is True
