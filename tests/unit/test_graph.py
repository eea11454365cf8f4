"""The stage graph: keys change exactly where the config changes, shared work is shared."""

from __future__ import annotations

from pathlib import Path

from spin.config import load_experiment
from spin.pipeline.graph import build_graph
from spin.pipeline.stage import topological

TINY = Path(__file__).resolve().parents[2] / "replication" / "tiny.yaml"


def _keys(overrides=()):
    exp = load_experiment(TINY, list(overrides))
    return {s.name: s.key for s in topological(build_graph(exp).stages)}


def test_changing_one_iteration_reruns_only_what_depends_on_it():
    before = _keys()
    after = _keys(["arms.spin.iterations.2.learning_rate=3e-5"])
    changed = {name for name in before if before[name] != after.get(name)}
    assert "spin/iter2/train" in changed and "spin/iter3/generate" in changed
    assert not any(n.startswith(("prepare", "base_model", "sft", "continued_sft")) for n in changed)
    assert not any(n.startswith(("spin/iter0", "spin/iter1")) for n in changed)
    assert "spin/iter2/generate" not in changed  # θ2 is unchanged, so are its generations


def test_seed_changes_everything():
    a, b = _keys(), _keys(["seed=1"])
    assert all(a[n] != b[n] for n in a if n in b)


def test_spin_iteration_pairs_mix_previous_and_theta0_generation_is_shared():
    exp = load_experiment(TINY)
    stages = {s.name: s for s in topological(build_graph(exp).stages)}
    assert stages["spin/iter1/pairs"].previous is stages["spin/iter0/pairs"]
    assert stages["spin/iter0/pairs"].previous is None
    # θ0's generations (SPIN iteration 0's y′) are one stage, whatever arm asks for them
    proto_keys = {s.proto.key for s in stages.values() if s.kind == "dynamics"}
    assert stages["spin/iter0/generate"].key in proto_keys
    lrs = [stages[f"spin/iter{t}/train"].config.learning_rate for t in range(4)]
    betas = [stages[f"spin/iter{t}/train"].config.beta for t in range(4)]
    assert lrs == [1e-5, 1e-5, 2e-6, 2e-6] and betas == [0.1, 0.1, 0.1, 5.0]


def test_zephyr_recipe_matches_the_paper():
    exp = load_experiment(TINY.parent / "spin-zephyr-7b.yaml")
    stages = {s.name: s for s in topological(build_graph(exp).stages)}
    train = [stages[f"spin/iter{t}/train"].config for t in range(4)]
    assert [t.learning_rate for t in train] == [5e-7, 5e-7, 1e-7, 1e-7]
    assert [t.beta for t in train] == [0.1, 0.1, 0.1, 5.0]
    assert {t.optimizer for t in train} == {"rmsprop"} and {t.warmup_ratio for t in train} == {0.1}
    assert train[0].per_device_train_batch_size * 8 == 64
    assert exp.model.revision.startswith("ac6e600")
    g = exp.generation
    assert (g.prompt_format, g.temperature, g.max_new_tokens, g.backend) == (
        "alpaca",
        0.0,
        256,
        "transformers",
    )
    assert exp.data.num_prompts == 50_000
    # starting from our own SFT puts an SFT stage from Mistral-7B-v0.1 before iteration 0
    own = load_experiment(TINY.parent / "spin-zephyr-7b.yaml", ["model.from_sft=true"])
    own_stages = {s.name: s for s in topological(build_graph(own).stages)}
    assert own_stages["spin/iter0/train"].model.name == "sft"
    assert own_stages["base_model"].model.name_or_path == "mistralai/Mistral-7B-v0.1"
    released = load_experiment(TINY.parent / "spin-zephyr-7b.yaml", ["data.source=spin_iter"])
    names = [s.name for s in topological(build_graph(released).stages)]
    assert not any(n.endswith("/generate") for n in names)  # the released pairs replace generation


def test_sft_only_experiment_evaluates_its_sft_output():
    exp = load_experiment(TINY.parent / "sft-zephyr-7b.yaml")
    graph = build_graph(exp)
    ((model, info),) = graph.checkpoints
    assert model.kind == "sft" and info["name"] == "mistral-7b-v0.1 (our SFT)"
    assert model.config.learning_rate == 2e-5 and model.config.chat_template == "zephyr"
    assert [s.suite for s, _ in graph.evals] == ["openllm-v1"]


def test_mt_bench_is_prompted_with_the_recipes_model_id_for_fastchat():
    """gen_model_answer picks FastChat's template by --model-id; a checkpoint folder's name
    ("model") would get its one_shot fallback, so the Eval stage passes the recipe's model."""
    from spin.pipeline.stages import Eval

    exp = load_experiment(TINY.parent / "spin-zephyr-7b.yaml")
    evals = [s for s in build_graph(exp).stages if isinstance(s, Eval)]
    mt = [s for s in evals if s.suite == "mt-bench"]
    assert mt and all(s.fastchat_model_id == "alignment-handbook/zephyr-7b-sft-full" for s in mt)
    assert all(s.params()["fastchat_model_id"] == s.fastchat_model_id for s in mt)
    # the other suites' keys do not carry it
    assert all("fastchat_model_id" not in s.params() for s in evals if s.suite != "mt-bench")
