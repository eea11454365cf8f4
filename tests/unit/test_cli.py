"""The `spin` command's help: every level ends with an example."""

from __future__ import annotations

import pytest

from spin.cli import VERBS, build_parser


def _help(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit):
        build_parser().parse_args([*argv, "--help"])
    return capsys.readouterr().out


def test_top_level_help_ends_with_an_example(capsys):
    text = _help([], capsys)
    assert "example:\n  spin run replication/tiny.yaml" in text
    assert "min)" not in text  # no stale run time


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_every_verb_help_ends_with_an_example(verb, capsys):
    lines = _help([verb], capsys).rstrip().splitlines()
    examples = lines[lines.index("example:") + 1 :]
    assert examples, "the help ends with its example"
    assert all(f"spin {verb} " in e or f"spin.cli {verb} " in e for e in examples), examples
