"""Generated instruction tasks whose answers can be checked by exact match.

Five families (arithmetic, sorting, reversal, repetition, table lookup) stand in for
UltraChat: each item is a prompt and its one correct response. Items are drawn with a
seeded RNG, deduplicated by prompt, and split into disjoint SFT, SPIN and eval parts, so
held-out accuracy measures generalisation rather than recall.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable

COLOURS = ["red", "blue", "green", "black", "white", "pink", "gold", "grey"]


def _word(rng: random.Random) -> str:
    """A pronounceable made-up word (2-3 syllables): thousands of distinct strings."""
    return "".join(
        rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") for _ in range(rng.randint(2, 3))
    )


def _add(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randint(10, 99), rng.randint(0, 19)
    return f"What is {a} + {b}?", str(a + b)


def _sort(rng: random.Random) -> tuple[str, str]:
    digits = rng.sample(string.digits, 4)
    return f"Sort these digits: {' '.join(digits)}", " ".join(sorted(digits))


def _reverse(rng: random.Random) -> tuple[str, str]:
    letters = [rng.choice(string.ascii_lowercase) for _ in range(3)]
    return f"Reverse the letters: {' '.join(letters)}", " ".join(reversed(letters))


def _repeat(rng: random.Random) -> tuple[str, str]:
    word = _word(rng)
    return f"Repeat the word twice: {word}", f"{word} {word}"


def _lookup(rng: random.Random) -> tuple[str, str]:
    keys = rng.sample(COLOURS, 3)
    values = [rng.randint(0, 9) for _ in keys]
    table = ", ".join(f"{k}={v}" for k, v in zip(keys, values, strict=True))
    i = rng.randrange(len(keys))
    return f"Table: {table}. What is {keys[i]}?", str(values[i])


FAMILIES: dict[str, Callable[[random.Random], tuple[str, str]]] = {
    "add": _add,
    "sort": _sort,
    "reverse": _reverse,
    "repeat": _repeat,
    "lookup": _lookup,
}


def make_items(n: int, seed: int, families: list[str] | None = None) -> list[dict]:
    """n distinct items, round-robin over families: {"id", "family", "prompt", "answer"}."""
    families = families or list(FAMILIES)
    rng = random.Random(seed)
    seen: set[str] = set()
    items: list[dict] = []
    attempts = 0
    while len(items) < n:
        attempts += 1
        if attempts > 100 * n:
            raise ValueError(f"cannot draw {n} distinct items from families {families}")
        family = families[len(items) % len(families)]
        prompt, answer = FAMILIES[family](rng)
        if prompt in seen:
            continue
        seen.add(prompt)
        items.append(
            {"id": f"tiny-{len(items):06d}", "family": family, "prompt": prompt, "answer": answer}
        )
    return items


def split_items(items: list[dict], sizes: dict[str, int], seed: int) -> dict[str, list[dict]]:
    """Disjoint splits of the requested sizes, after a seeded shuffle."""
    if sum(sizes.values()) > len(items):
        raise ValueError(f"splits {sizes} need {sum(sizes.values())} items, have {len(items)}")
    shuffled = items[:]
    random.Random(seed).shuffle(shuffled)
    out, start = {}, 0
    for name, size in sizes.items():
        out[name] = shuffled[start : start + size]
        start += size
    return out


def score(response: str, answer: str) -> bool:
    """Exact match after trimming whitespace: the tiny tasks have one correct string."""
    return response.strip() == answer.strip()
