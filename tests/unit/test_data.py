"""Data lineage: first turns, seeded and nested samples, pairs, mixing, triplets, SPIN_iter."""

from __future__ import annotations

import pytest

from spin.data import (
    assemble_pairs,
    assemble_triplets,
    mix_iterations,
    nested_subsets,
    sample_prompts,
    spin_iter_pairs,
    ultrachat_first_turns,
)
from spin.errors import DataError
from spin.tiny.tasks import FAMILIES, make_items, score, split_items


def _conv(i, n_turns=4):
    roles = ["user", "assistant"] * (n_turns // 2)
    return {
        "prompt_id": str(i),
        "messages": [{"role": r, "content": f"{r} {i} turn {k}"} for k, r in enumerate(roles)],
    }


def test_first_turns_take_first_user_and_assistant():
    out = ultrachat_first_turns([_conv(0), _conv(1)])
    assert out[0]["prompt"] == "user 0 turn 0" and out[0]["real"] == "assistant 0 turn 1"


def test_first_turns_reject_empty_response_with_location():
    row = _conv(0)
    row["messages"][1]["content"] = " "
    with pytest.raises(DataError, match=r"uc:2 field 'messages\[1\].content': empty response"):
        ultrachat_first_turns([_conv(1), row], source="uc")


def test_sample_is_seeded_and_nested_subsets_nest():
    records = [{"prompt": str(i), "real": "r"} for i in range(100)]
    a, b = sample_prompts(records, 10, 1), sample_prompts(records, 10, 1)
    assert a == b and len(a) == 10 and [r["idx"] for r in a] == list(range(10))
    assert sample_prompts(records, 10, 2) != a
    subsets = nested_subsets(records, [14, 26, 50], seed=0)
    small, mid, big = ({r["prompt"] for r in subsets[n]} for n in (14, 26, 50))
    assert small < mid < big and len(big) == 50
    with pytest.raises(DataError):
        nested_subsets(records, [200], seed=0)


def test_pairs_mix_previous_iteration():
    gens0 = [
        {"idx": i, "prompt": f"p{i}", "real": f"r{i}", "generated": f"g0_{i}"} for i in range(3)
    ]
    gens1 = [{**g, "generated": f"g1_{g['idx']}"} for g in gens0]
    p0, p1 = assemble_pairs(gens0, iteration=0), assemble_pairs(gens1, iteration=1)
    mixed = mix_iterations(p1, p0)
    assert len(mixed) == 6 and {p["iteration"] for p in mixed} == {0, 1}
    assert mix_iterations(p0, None) == p0
    with pytest.raises(DataError, match="field 'real'"):
        assemble_pairs([{"idx": 0, "prompt": "p", "real": "", "generated": "g"}], iteration=0)


def test_triplets_need_a_proto_for_every_prompt():
    gens = [{"idx": i, "prompt": f"p{i}", "real": f"r{i}", "generated": f"g{i}"} for i in range(2)]
    protos = [{"idx": 0, "generated": "y0_0"}, {"idx": 1, "generated": "y0_1"}]
    t = assemble_triplets(gens, protos)
    assert t[1]["proto"] == "y0_1" and t[1]["generated"] == "g1"
    with pytest.raises(DataError, match="no proto-synthetic response for idx 1"):
        assemble_triplets(gens, protos[:1])


def test_spin_iter_rows_dedupe():
    row = {
        "real": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
        "generated": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "b"}],
    }
    out = spin_iter_pairs([row, row], source="UCLA-AGI/SPIN_iter0")
    assert len(out) == 1 and out[0] == {"idx": 0, "prompt": "q", "real": "a", "generated": "b"}
    with pytest.raises(DataError, match="field 'generated'"):
        spin_iter_pairs([{"real": row["real"], "generated": []}], source="x")


def test_tiny_tasks_are_seeded_distinct_and_checkable():
    items = make_items(500, seed=3)
    assert items == make_items(500, seed=3)
    assert len({i["prompt"] for i in items}) == 500
    assert {i["family"] for i in items} == set(FAMILIES)
    add = next(i for i in items if i["family"] == "add")
    a, b = (int(x) for x in add["prompt"].removeprefix("What is ").rstrip("?").split(" + "))
    assert add["answer"] == str(a + b)
    parts = split_items(items, {"sft": 300, "spin": 150, "eval": 50}, seed=0)
    assert not {i["id"] for i in parts["sft"]} & {i["id"] for i in parts["eval"]}
    assert score(" 12 ", "12") and not score("13", "12")
