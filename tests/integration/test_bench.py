"""`spin bench` end to end at its smallest (no vLLM): the command a user runs, its JSON, and
the checks inside it that do not depend on timing."""

from __future__ import annotations

import json

from spin.cli import main


def test_spin_bench_runs_and_reports_the_reference_pass(tmp_path, capsys):
    out = tmp_path / "bench.json"
    argv = ["bench", "--skip-vllm", "--prompts", "8", "--new-tokens", "8", "--pairs", "16"]
    argv += ["--builds", "1", "--train-hidden", "128", "--train-layers", "2"]
    assert main([*argv, "--workdir", str(tmp_path / "work"), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    t = json.loads(out.read_text())["training"]
    # the resident and the precomputed reference train to the same losses
    assert t["max_loss_difference"] < 1e-4
    p = t["reference_pass"]
    assert p["pass_s"] > 0 and p["pass_s"] == p["passes_s"][0]
    assert "vllm" not in p
    reuse = p["generation_reuse"]
    assert all(
        0.0 <= reuse[f"{layout}_{d}"] <= 1.0
        for layout in ("clean", "official")
        for d in ("greedy", "sampled")
    )
    # The tiny chat template ends the user turn with EOS, to which the official layout's
    # trainer gives attention 0: its context is never the generator's, so nothing is
    # reusable, by construction.
    assert reuse["official_greedy"] == reuse["official_sampled"] == 0.0
    for key in ("spin_step_speedup", "spin_end_to_end_speedup_2_epoch"):
        assert t[key] > 0
    assert "reference pass:" in printed and "reusable from generation" in printed
