"""The stored response text in each layout: generate.py's replace("</s>", "").lstrip() in the
official one (trailing whitespace kept, inner `</s>` removed), strip() in the clean one."""

from __future__ import annotations

from spin.prompts import clean_generation


def test_official_cleanup_is_generate_py():
    decoded = " Paris is the capital.\n</s></s></s>"  # EOS, then the pads (pad = EOS)
    assert clean_generation(decoded, "official", "</s>") == "Paris is the capital.\n"
    assert clean_generation("A</s> B ", "official", "</s>") == "A B "


def test_clean_cleanup_strips():
    assert clean_generation(" Paris is the capital.\n", "clean", "</s>") == "Paris is the capital."
