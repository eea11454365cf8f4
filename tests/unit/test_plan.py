"""`spin run --dry-run` / `spin plan`: the printed commands are valid invocations of the
real parsers (ours and accelerate's), with the experiment's settings in them."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from spin.cli import build_parser
from spin.cli import main as spin

ROOT = Path(__file__).resolve().parents[2]


def _commands(capsys, *argv):
    assert spin(list(argv)) == 0
    out = capsys.readouterr().out
    return out, [
        shlex.split(line.split("$ ", 1)[1])
        for line in out.splitlines()
        if line.strip().startswith("$ ")
    ]


def test_dry_run_prints_valid_commands_for_the_paper_run(capsys, tmp_path):
    out, cmds = _commands(
        capsys,
        "run",
        str(ROOT / "replication/spin-zephyr-7b.yaml"),
        "--dry-run",
        "--output-dir",
        str(tmp_path),
    )
    assert "37 to run" in out
    parser = build_parser()
    launches = [c for c in cmds if "accelerate.commands.launch" in c]
    assert len(launches) == 4  # one ZeRO-3 launch per SPIN iteration
    from accelerate.commands.launch import launch_command_parser

    for cmd in launches:
        i = cmd.index("spin.cli") - 1  # accelerate's own args end at the second -m
        acc = launch_command_parser().parse_args(cmd[3:i] + ["dummy.py"])
        assert acc.config_file.endswith("replication/accelerate/zero3-8gpu.yaml")
        assert Path(acc.config_file).is_absolute() and Path(acc.config_file).exists()
        args = parser.parse_args(cmd[i + 2 :])  # what follows `-m spin.cli`
        assert args.method == "spin" and args.dtype == "bfloat16"
    lrs = sorted(
        {
            json.loads(parser.parse_args(c[c.index("spin.cli") + 1 :]).config_json)["learning_rate"]
            for c in launches
        }
    )
    assert lrs == [1e-7, 5e-7]
    gens = [parser.parse_args(c[1:]) for c in cmds if c[:2] == ["spin", "generate"]]
    assert gens and all(
        g.prompt_format == "alpaca" and g.temperature == 0.0 and g.max_new_tokens == 256
        for g in gens
    )
    evals = [parser.parse_args(c[1:]) for c in cmds if c[:2] == ["spin", "eval"]]
    assert {e.suite for e in evals} == {"openllm-v1", "spin-bbh", "mt-bench"}
    assert {e.backend for e in evals} == {"hf"}  # vllm 0.33 does not resolve today (PINS.md)


def test_tiny_dry_run_trains_in_process(capsys, tmp_path):
    _, cmds = _commands(
        capsys,
        "run",
        str(ROOT / "replication/tiny.yaml"),
        "--dry-run",
        "--output-dir",
        str(tmp_path),
    )
    trains = [c for c in cmds if c[:2] == ["spin", "train"]]
    methods = [build_parser().parse_args(c[1:]).method for c in trains]
    assert methods.count("spin") == 4 and methods.count("tspin") == 5 and methods.count("sft") == 5


def test_plan_estimate_beside_the_papers_hours(capsys):
    assert (
        spin(
            [
                "plan",
                str(ROOT / "replication/spin-zephyr-7b.yaml"),
                "--gpu",
                "a100-80gb",
                "--n-gpus",
                "8",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "compute estimate on 8x A100" in out and "paper (h)" in out
    row = next(line for line in out.splitlines() if line.startswith("spin/iter1/train "))
    ours, paper = (float(x) for x in row.split()[1:3])
    assert paper == 8.64 and 0 < ours < paper
