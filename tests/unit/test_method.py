"""spin.method: one record per method, and config validation that rejects the training fields
an arm's method ignores (a YAML says what runs)."""

from __future__ import annotations

import pytest

from spin import method
from spin.config import load_experiment
from spin.errors import ConfigError
from spin.pipeline.graph import build_graph


def test_beta_at_follows_what_each_method_trains_with():
    spin, tspin, noha, ref = (
        method.METHODS[n] for n in ("spin", "tspin", "tspin_noha", "tspin_ref")
    )
    assert [spin.beta_at(t, 0.3) for t in range(3)] == [0.3, 0.3, 0.3]
    assert [tspin.beta_at(t, 0.3) for t in range(3)] == [0.0, 0.3, 0.3]
    assert [ref.beta_at(t, 0.3) for t in range(3)] == [0.0, 0.3, 0.3]
    assert [noha.beta_at(t, 0.3) for t in range(3)] == [0.0, 0.0, 0.0]


def test_records_answer_the_method_questions():
    m = method.METHODS
    assert {n: m[n].data for n in method.ARM_METHODS} == {
        "spin": "pairs",
        "tspin": "triplets",
        "tspin_noha": "triplets",
        "tspin_ref": "triplets",
        "continued_sft": None,
    }
    assert [n for n in method.ARM_METHODS if m[n].needs_reference] == ["spin", "tspin_ref"]
    assert [n for n in method.ARM_METHODS if m[n].mixes_previous] == ["spin"]
    assert {n: m[n].trainer for n in method.ARM_METHODS} == {
        "spin": "spin",
        "tspin": "tspin",
        "tspin_noha": "tspin",
        "tspin_ref": "tspin_ref",
        "continued_sft": "sft",
    }
    assert "sft" not in method.ARM_METHODS and "dpo" not in method.ARM_METHODS


def test_spin_train_accepts_exactly_the_trainers():
    from spin.train.command import METHODS

    assert sorted(METHODS) == ["sft", "spin", "tspin", "tspin_ref"]


def test_unknown_method_is_one_line_naming_the_allowed_values():
    with pytest.raises(ConfigError) as e:
        method.get("tspinn", arm=True)
    text = str(e.value)
    assert "\n" not in text and "did you mean 'tspin'" in text
    assert all(n in text for n in method.ARM_METHODS) and "dpo" not in text


def test_report_labels_parse_back_to_their_method():
    from spin.report.registry import parse_label

    for name in ("spin", "tspin", "tspin_noha", "tspin_ref"):
        assert parse_label(f"{method.METHODS[name].label} iter3", "B") == (name, 3)


def _load(tmp_path, text, overrides=()):
    p = tmp_path / "exp.yaml"
    p.write_text(text)
    return load_experiment(p, list(overrides)), p


TSPIN = "arms: {tspin: {method: tspin, training: {TRAIN}, iterations: [ITER0, {}]}}\n"


def _tspin(training="{}", iter0="{}", top=""):
    return top + TSPIN.replace("{TRAIN}", training).replace("ITER0", iter0)


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        (
            _tspin("{mix_previous: true}"),
            "arms.tspin.training.mix_previous",
            "T-SPIN does not mix the previous iteration's data",
        ),
        (
            _tspin(iter0="{loss_type: hinge}"),
            "arms.tspin.iterations.0.loss_type",
            "loss_type is SPIN's",
        ),
        (_tspin(iter0="{beta: 0.1}"), "arms.tspin.iterations.0.beta", "β is 0 at iteration 0"),
        (
            _tspin(top="training: {mix_previous: true}\n"),
            "training.mix_previous",
            "T-SPIN does not mix the previous iteration's data",
        ),
        (
            "arms: {a: {method: tspin_noha, training: {beta: 0.1}, iterations: [{}]}}\n",
            "arms.a.training.beta",
            "β = 0 at every iteration by definition",
        ),
        (
            "arms: {s: {method: spin, iterations: [{alpha: 0.5}]}}\n",
            "arms.s.iterations.0.alpha",
            "alpha is T-SPIN's reward scale",
        ),
    ],
)
def test_a_field_the_method_ignores_is_rejected_with_the_reason(tmp_path, text, key, reason):
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, text)
    msg = str(e.value)
    assert "\n" not in msg and str(tmp_path / "exp.yaml") in msg
    assert key in msg and reason in msg


def test_values_the_method_uses_anyway_and_defaults_are_accepted(tmp_path):
    _load(tmp_path, _tspin("{mix_previous: false, beta: 0.3}"))  # β applies from iteration 1
    _load(tmp_path, _tspin(iter0="{beta: 0}"))
    _load(tmp_path, "arms: {a: {method: tspin_noha, training: {beta: 0.0}, iterations: [{}]}}\n")
    # A top-level SPIN field is read by the SPIN arm, so it may stand beside a T-SPIN arm.
    _load(
        tmp_path,
        "training: {mix_previous: true, loss_type: hinge}\n"
        "arms: {s: {method: spin, iterations: [{}]}, t: {method: tspin, iterations: [{}]}}\n",
    )


def test_a_set_override_is_named_as_the_user_typed_it(tmp_path):
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, _tspin(), ["arms.tspin.training.mix_previous=true"])
    assert str(e.value).startswith("--set arms.tspin.training.mix_previous=true: T-SPIN does not")


def test_graph_trains_each_method_as_its_record_says(tmp_path):
    exp, _ = _load(
        tmp_path,
        "training: {beta: 0.4}\n"
        "arms: {s: {method: spin, iterations: [{}, {}]}, t: {method: tspin, iterations: [{}, {}]},"
        " n: {method: tspin_noha, iterations: [{}, {}]}}\n",
    )
    stages = {s.name: s for s in build_graph(exp).stages}
    for arm, m in (("s", "spin"), ("t", "tspin"), ("n", "tspin_noha")):
        rec = method.METHODS[m]
        for t in (0, 1):
            train = stages[f"{arm}/iter{t}/train"]
            assert train.trainer == rec.trainer
            assert train.config.beta == rec.beta_at(t, 0.4)
            assert train.pairs.form == rec.data
            # mix_previous is true by default: only SPIN acts on it
            assert (train.pairs.previous is not None) == (t == 1 and rec.mixes_previous)
