"""spin bench's pure logic: the interleave schedule, the per-round ratios and their spread,
and the turn-taking of trainers in threads (with stand-in trainers: no model, no timing)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from spin.bench import (
    arm_timings,
    interleave_order,
    pass_budget,
    round_ratios,
    spread,
    train_interleaved,
)


def test_interleave_order_rotates_each_round():
    arms = ("a", "b", "c")
    assert [interleave_order(arms, r) for r in range(4)] == [
        ["a", "b", "c"],
        ["b", "c", "a"],
        ["c", "a", "b"],
        ["a", "b", "c"],
    ]
    assert interleave_order([], 3) == []


def test_spread():
    s = spread([1.2, 0.9, 1.0, 1.5])
    assert (s["median"], s["min"], s["max"], s["rounds"]) == (1.1, 0.9, 1.5, 4)
    # n = 4: ranks 2 − 1.96 and 3 + 1.96, clipped: the 1st and 4th
    assert s["median_ci95"] == [0.9, 1.5]
    assert s["quartiles"] == pytest.approx([0.925, 1.425])
    # n = 100: the 40th and 61st of 1..100 (the textbook ranks)
    s = spread([float(i) for i in range(100, 0, -1)])
    assert s["median"] == 50.5 and s["median_ci95"] == [40.0, 61.0]
    assert spread([2.0])["median_ci95"] == [2.0, 2.0]


def block(s, steps, kind="steps", epoch_end=False):
    return {"kind": kind, "s": s, "steps": steps, "examples": 8 * steps, "epoch_end": epoch_end}


def test_round_ratios_skip_rounds_without_the_same_steps():
    blocks = {
        "a": [block(3.0, 0, "start"), block(4.0, 2), block(6.0, 2), block(0.5, 1), block(0, 0)],
        "b": [block(1.0, 0, "start"), block(2.0, 2), block(2.0, 2), block(0.5, 2), block(0, 0)],
    }
    # per example: a 4/16 vs b 2/16, then 6/16 vs 2/16; the start, uneven and empty rounds
    # give no sample
    assert round_ratios(blocks, "a", "b") == [2.0, 3.0]
    # end to end over 32 examples: (10 + 32·0.25)/(1 + 32·0.125) = 18/5, then 22/5
    e2e = round_ratios(blocks, "a", "b", setup={"a": 10.0, "b": 1.0}, examples=32)
    assert e2e == pytest.approx([3.6, 4.4])


def test_arm_timings():
    blocks = [
        block(1.5, 0, "start"),
        block(2.0, 2),
        block(3.0, 2, epoch_end=True),
        block(4.0, 2),
        block(1.0, 2, epoch_end=True),
        block(0.25, 0, "end"),
    ]
    t = arm_timings(blocks, build_s=[5.0, 9.0, 4.0], n=32)
    assert t["setup_s"] == 6.5  # median build + train()'s own preparation
    assert t["epoch_s"] == [5.0, 5.0]
    assert t["end_to_end_1_epoch_s"] == 11.5
    assert t["end_to_end_2_epoch_s"] == 16.5
    assert t["examples_per_s"] == 6.4  # 64 examples in 10 s of steps


def test_pass_budget():
    t = {
        "epochs": 2,
        # 0.25 s an example with the resident reference, 0.2 without: F = 0.05 s
        "resident_reference": {"examples_per_s": 4.0, "end_to_end_2_epoch_s": 100.0},
        "precomputed_reference": {"examples_per_s": 5.0, "end_to_end_2_epoch_s": 90.0},
    }
    b = pass_budget(t, pass_s=[9.0, 7.0, 8.0], n=100)
    assert b["pass_s"] == 8.0  # the median build's
    assert b["reference_forward_per_example_s"] == pytest.approx(0.05)
    assert b["pass_in_forwards"] == pytest.approx(1.6)  # 0.08 s an example
    # 1.25x: 100 / 1.25 = 80 s end to end, of which 90 − 8 = 82 s are not the pass
    assert b["pass_needed_s"] == pytest.approx(-2.0)
    assert b["pass_needed_in_forwards"] == pytest.approx(-0.4)
    assert pass_budget(t, [8.0], 100, target=1.0)["pass_needed_s"] == pytest.approx(18.0)


class StandInTrainer:
    """Calls its callbacks as Trainer.train does, for `epochs` epochs of `steps` steps, and
    writes each step it runs to a shared log."""

    def __init__(self, name, log, epochs=2, steps=5):
        self.name, self.log, self.epochs, self.steps = name, log, epochs, steps
        self.args = SimpleNamespace(per_device_train_batch_size=8)
        self.callbacks = []

    def add_callback(self, cb):
        self.callbacks.append(cb)

    def _call(self, event):
        for cb in self.callbacks:
            getattr(cb, event)(self.args, None, None)

    def train(self):
        self._call("on_train_begin")
        for e in range(self.epochs):
            for s in range(self.steps):
                self.log.append((self.name, e * self.steps + s + 1))
                self._call("on_step_end")
            self._call("on_epoch_end")


def test_train_interleaved_takes_turns_in_blocks():
    log = []
    trainers = {name: StandInTrainer(name, log) for name in ("a", "b")}
    blocks, rounds = train_interleaved(trainers, block_steps=2)
    # blocks of at most 2 steps, cut at each epoch's end (5 steps: 2 + 2 + 1)
    steps = [b["steps"] for b in blocks["a"]]
    assert steps == [0, 2, 2, 1, 2, 2, 1, 0]
    assert [b["kind"] for b in blocks["a"]] == ["start", *["steps"] * 6, "end"]
    assert [b["epoch_end"] for b in blocks["a"]] == [False, False, False, True] + [
        False,
        False,
        True,
        False,
    ]
    assert [{**b, "s": 0} for b in blocks["b"]] == [{**b, "s": 0} for b in blocks["a"]]
    assert rounds == 8  # the start round, 6 rounds of steps, the end round
    # one trainer at a time, a block each per round, the order rotating (round 0, the start,
    # ran a then b; round 1 runs b then a, ...)
    order = "b1 b2 a1 a2 a3 a4 b3 b4 b5 a5 a6 a7 b6 b7 b8 b9 a8 a9 a10 b10"
    assert [f"{name}{step}" for name, step in log] == order.split()


def test_train_interleaved_reraises_a_trainers_error():
    class Failing(StandInTrainer):
        def train(self):
            self._call("on_train_begin")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        train_interleaved({"a": Failing("a", [])}, block_steps=2)
