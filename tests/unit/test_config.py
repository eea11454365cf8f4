"""Experiment configs: every shipped YAML loads; bad keys and values get clear errors."""

from __future__ import annotations

import re
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


ARMS = (
    "arms: {spin: {method: spin, iterations: [{}, {beta: 5.0}]}, "
    "sft: {method: continued_sft, iterations: [{}]}}\n"
)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.learning_rate=0", "must be a number > 0"),
        ("training.learning_rate=-1e-6", "must be a number > 0"),
        ("training.learning_rate=.nan", "must be a number > 0"),
        ("generation.batch_size=0", "must be a number >= 1"),
        ("generation.shard_size=0", "must be a number >= 1"),
        ("data.num_prompts=-5", "must be a number >= 0"),
        ("training.num_train_epochs=-1", "must be a number > 0"),
        ("sft.num_train_epochs=0", "must be a number > 0"),
        ("generation.top_p=1.5", "must be a number > 0 and <= 1"),
        ("training.beta=-0.1", "must be a number >= 0"),
        ("arms.spin.iterations.1.beta=-2", "must be a number >= 0"),
        ("eval.backend=vlm", "must be one of hf, vllm"),
        ("eval.checkpoints=last", "must be one of all, final"),
        ("eval.suites=[tiny, openllm-v2]", "unknown suite 'openllm-v2'"),
        ("training.launcher=slurm", "must be one of inprocess, accelerate"),
        ("sft.launcher=slurm", "must be one of inprocess, accelerate"),
        ("training.optimizer=rmsprops", "must be one of rmsprop, adamw_torch"),
        ("arms.sft.iterations.0.optimizer=adam", "must be one of rmsprop"),
    ],
)
def test_out_of_range_values_name_the_set_key_and_allowed_values(tmp_path, override, message):
    p = _write(tmp_path, ARMS)
    with pytest.raises(ConfigError) as e:
        load_experiment(p, [override])
    assert str(e.value) == f"--set {override}: {message}" or (
        str(e.value).startswith(f"--set {override}: ") and message in str(e.value)
    )


def test_out_of_range_value_in_the_file_names_file_and_key(tmp_path):
    p = _write(tmp_path, ARMS + "training: {beta: -1}\n")
    with pytest.raises(ConfigError, match=r"exp.yaml: training.beta = -1.0: must be a number >= 0"):
        load_experiment(p)
    p = _write(tmp_path, "arms: {spin: {method: spin, iterations: [{learning_rate: 0}]}}\n")
    with pytest.raises(ConfigError, match=r"arms.spin.iterations.0.learning_rate = 0.0: must"):
        load_experiment(p)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "arms.spin.iterations.5.beta=1",
            "arms.spin.iterations is a list of 2; '5' is not an index",
        ),
        ("seed.x=1", "seed is 42, not a mapping or list"),
        ("arms.spin.iterations=[1, 2]", "iterations[0] must be a mapping of overrides, got 1"),
        ("arms.spin.iterations.x=1", "'x' is not an index"),
        ("seed=[", "the value is not valid YAML"),
    ],
)
def test_bad_set_paths_are_one_line_errors(tmp_path, override, message):
    p = _write(tmp_path, "seed: 42\n" + ARMS)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_experiment(p, [override])


def test_non_utf8_yaml_and_a_folder_are_named(tmp_path):
    p = tmp_path / "exp.yaml"
    p.write_bytes(b"name: caf\xe9\n" + ARMS.encode())
    with pytest.raises(ConfigError, match=r"exp.yaml: not UTF-8"):
        load_experiment(p)
    with pytest.raises(ConfigError, match="is a folder"):
        load_experiment(tmp_path)


def test_allowed_optimizers_and_schedulers_exist_in_transformers():
    from transformers.trainer_utils import SchedulerType
    from transformers.training_args import OptimizerNames

    from spin.config import OPTIMIZERS, SCHEDULERS

    assert set(OPTIMIZERS) <= {o.value for o in OptimizerNames}
    assert set(SCHEDULERS) <= {s.value for s in SchedulerType}


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
