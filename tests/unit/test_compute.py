"""spin.compute against arithmetic done by hand."""

from __future__ import annotations

import pytest

from spin.compute import (
    StageCompute,
    disk_free_check,
    estimate_generation,
    estimate_training,
)


def test_training_matches_hand_calculation():
    # SPIN iteration 0 on Zephyr-7B, by hand:
    #   tokens = 49,792 pairs x 800 tokens          = 39,833,600
    #   FLOPs  = 6 x 7.24e9 x 39,833,600 x 2 epochs = 3.4607431680e18
    #   8 A100 at 40% MFU = 8 x 312e12 x 0.4        = 9.984e14 FLOP/s
    #   wall   = 3.4607431680e18 / 9.984e14 s       = 3466.289 s = 0.962858 h
    #   GPU-h  = 8 x 0.962858                       = 7.702862
    #   disk   = 2 bytes x 7.24e9                   = 14,480,000,000 bytes
    stage = estimate_training(7.24e9, 49_792, 800, 2, gpu="a100", n_gpus=8, mfu=0.4)
    assert isinstance(stage, StageCompute)
    assert stage.kind == "training"
    assert stage.flops == pytest.approx(3.4607431680e18, rel=1e-12)
    assert stage.wall_hours == pytest.approx(0.962858, rel=1e-5)
    assert stage.gpu_hours == pytest.approx(7.702862, rel=1e-5)
    assert stage.disk_bytes == 14_480_000_000
    assert stage.assumptions["mfu"] == 0.4
    assert stage.assumptions["peak_flops_per_gpu"] == 312e12


def test_checkpointing_and_reference_add_what_they_claim():
    base = estimate_training(1e9, 1000, 100, 1)
    full = estimate_training(1e9, 1000, 100, 1, gradient_checkpointing=True, reference_forward=True)
    # 6N -> 8N per token per epoch, plus one 2N reference pass: (8 + 2) / 6.
    assert full.flops / base.flops == pytest.approx(10 / 6)


def test_generation_is_two_n_per_token():
    # 1,000 prompts x (100 + 156) tokens x 2 x 1e9 = 5.12e14 FLOPs; on H100 at 10%: 5.12e14 /
    # (989e12 x 0.1) = 5.1770 s of one GPU = 1.43806e-3 GPU-hours.
    gen = estimate_generation(1e9, 1000, 100, 156, gpu="h100", n_gpus=4, mfu=0.1)
    assert gen.flops == pytest.approx(5.12e14)
    assert gen.gpu_hours == pytest.approx(5.12e14 / (989e12 * 0.1) / 3600)
    assert gen.wall_hours == pytest.approx(gen.gpu_hours / 4)
    assert gen.disk_bytes > 0


def test_gpu_hours_do_not_depend_on_gpu_count():
    a = estimate_training(7e9, 1000, 800, 2, n_gpus=8)
    b = estimate_training(7e9, 1000, 800, 2, n_gpus=1)
    assert a.gpu_hours == pytest.approx(b.gpu_hours)
    assert a.wall_hours == pytest.approx(b.wall_hours / 8)


def test_h100_is_faster_by_the_peak_ratio():
    a = estimate_training(7e9, 1000, 800, 2, gpu="a100")
    h = estimate_training(7e9, 1000, 800, 2, gpu="h100")
    assert a.gpu_hours / h.gpu_hours == pytest.approx(989 / 312)


@pytest.mark.parametrize("kwargs", [{"gpu": "v100"}, {"mfu": 0.0}, {"mfu": 1.5}])
def test_bad_inputs_are_rejected(kwargs):
    with pytest.raises(ValueError):
        estimate_training(7e9, 1000, 800, 2, **kwargs)


def test_disk_free_check(tmp_path):
    assert disk_free_check(tmp_path / "not" / "yet" / "made", 1) is None
    warning = disk_free_check(tmp_path, 1 << 62)  # 4 EiB: no disk has that
    assert warning is not None and "free" in warning and str(tmp_path) in warning
