"""Experiment configs: every shipped YAML loads; bad keys and values get clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from spin.config import apply_override, load_experiment
from spin.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted((ROOT / "replication").glob("*.yaml"))


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.name)
def test_every_shipped_experiment_loads_and_builds_its_graph(path):
    from spin.pipeline.graph import build_graph

    exp = load_experiment(path)
    graph = build_graph(exp)
    assert graph.stages, f"{path.name} builds no stages"
    for arm, cfg in exp.arms.items():
        for t in range(len(cfg.iterations)):
            if cfg.method != "continued_sft":
                exp.iteration_training(arm, t)  # validates the merged overrides


def test_shipped_experiments_exist():
    names = {p.name for p in EXPERIMENTS}
    assert {"tiny.yaml", "spin-zephyr-7b.yaml", "sft-zephyr-7b.yaml"} <= names


def _write(tmp_path, text):
    p = tmp_path / "exp.yaml"
    p.write_text(text)
    return p


def test_unknown_key_names_key_and_nearest(tmp_path):
    p = _write(
        tmp_path, "arms: {spin: {method: spin, iterations: [{}]}}\ntraining: {learning_rat: 1e-6}\n"
    )
    with pytest.raises(ConfigError) as e:
        load_experiment(p)
    assert "learning_rat" in str(e.value) and "learning_rate" in str(e.value)
    assert str(p) in str(e.value)


def test_unknown_iteration_key_is_caught(tmp_path):
    p = _write(tmp_path, "arms: {spin: {method: spin, iterations: [{beat: 0.1}]}}\n")
    with pytest.raises(ConfigError, match="did you mean 'beta'"):
        load_experiment(p)


def test_bad_type_and_value(tmp_path):
    p = _write(tmp_path, "arms: {spin: {method: spin, iterations: [{}]}}\nseed: abc\n")
    with pytest.raises(ConfigError, match="'seed' must be int"):
        load_experiment(p)
    p = _write(tmp_path, "arms: {spin: {method: spinn, iterations: [{}]}}\n")
    with pytest.raises(ConfigError, match="did you mean 'spin'"):
        load_experiment(p)


def test_overrides_and_iteration_merge(tmp_path):
    p = _write(
        tmp_path,
        "training: {learning_rate: 5e-7, beta: 0.1}\n"
        "arms: {spin: {method: spin, iterations: [{}, {learning_rate: 1e-7, beta: 5.0}]}}\n",
    )
    exp = load_experiment(p, ["seed=3", "arms.spin.iterations.0.beta=0.2"])
    assert exp.seed == 3
    assert exp.iteration_training("spin", 0).beta == 0.2
    assert (
        exp.iteration_training("spin", 0).learning_rate == 5e-7
    )  # '5e-7' is a YAML string: coerced
    assert exp.iteration_training("spin", 1).learning_rate == 1e-7


def test_apply_override_rejects_missing_equals():
    with pytest.raises(ConfigError, match="key=value"):
        apply_override({}, "seed")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_experiment(tmp_path / "nope.yaml")


def test_paper_recipes_default_to_the_official_layout_and_tiny_to_clean():
    for path in EXPERIMENTS:
        exp = load_experiment(path)
        want = "clean" if path.name.startswith("tiny") else "official"
        assert exp.generation.layout == want, path.name
        for arm, spec in exp.arms.items():
            for t in range(len(spec.iterations)):
                if spec.method != "continued_sft":
                    assert exp.iteration_training(arm, t).layout == want, (path.name, arm, t)


def test_a_misspelt_layout_names_the_key_and_the_allowed_values():
    root = ROOT / "replication"
    with pytest.raises(ConfigError, match=r"training.layout: 'offical' .*did you mean 'official'"):
        load_experiment(root / "spin-zephyr-7b.yaml", ["training.layout=offical"])
    with pytest.raises(ConfigError, match=r"generation.layout: 'raw' is not one of"):
        load_experiment(root / "spin-zephyr-7b.yaml", ["generation.layout=raw"])
