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


def test_an_unknown_option_prints_the_verbs_usage(capsys):
    from spin.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["report", "--bogus"])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert err.startswith("usage: spin report ")
    assert err.rstrip().endswith("spin report: error: unrecognized arguments: --bogus")


def test_a_closed_pipe_ends_the_command_quietly():
    """`spin report --reported | head -1`: the reader has gone when the output comes (here
    before the first write, so the test does not race the pipe's 64 kB buffer)."""
    import os
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)
    code = "import sys; from spin.cli import main; sys.exit(main(['report', '--reported']))"
    try:
        res = subprocess.run(
            [sys.executable, "-c", code], stdout=write_end, stderr=subprocess.PIPE, timeout=120
        )
    finally:
        os.close(write_end)
    assert res.stderr.decode() == "" and res.returncode == 1
