"""spin.train.invariants: the step-0 and finiteness checks every training stage runs."""

from __future__ import annotations

import math

import pytest
import torch

from spin.train.invariants import InvariantError, Step0Check, check_finite, tolerance


class OneProcess:
    """accelerate's gather on one process: the tensor itself."""

    def gather(self, t):
        return t


def _check(**kw):
    return Step0Check(stage="spin train (it0)", expected_loss=math.log(2), loss_slope=0.1, **kw)


def test_tolerance_grows_with_the_response_and_with_16_bits():
    tokens = torch.tensor([0, 100])
    assert tolerance(False, tokens).tolist() == pytest.approx([1e-4, 1e-4 + 1e-3])
    assert tolerance(True, tokens).tolist() == pytest.approx([0.05, 1.05])


def test_step0_passes_at_zero_delta_and_records_the_numbers():
    check = _check(mixed_precision=False)
    loss = torch.tensor(math.log(2) + 1e-7)
    check.check(OneProcess(), loss, torch.tensor([0.0, 2e-5]), torch.tensor([10, 10]))
    assert check.record["step0_max_abs_delta"] == pytest.approx(2e-5)
    assert check.record["step0_tolerance"] == {"abs": 1e-4, "per_token": 1e-5}


def test_step0_stops_on_a_reference_off_by_nats():
    check = _check(mixed_precision=True)
    delta = torch.tensor([0.0, 4.2])  # rank 1's zeros gave 4-7 nats on 16-token responses
    with pytest.raises(InvariantError) as e:
        check.check(OneProcess(), torch.tensor(1.13), delta, torch.tensor([16, 16]))
    message = str(e.value)
    assert "\n" not in message and message.startswith("spin train (it0): at step 0")
    assert "4.2 nats" in message


def test_step0_stops_on_a_first_loss_that_is_not_log_2():
    check = _check(mixed_precision=False)
    with pytest.raises(InvariantError, match="the first loss is 0.4369 away from 0.693147"):
        check.check(OneProcess(), torch.tensor(1.13), torch.zeros(2), torch.tensor([5, 5]))


def test_no_step0_check_without_a_reference():
    class State:
        global_step = 0

    class Trainer:
        state = State()

    assert not Step0Check("t", False, expected_loss=None).pending(Trainer())
    assert _check(mixed_precision=False).pending(Trainer())


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_loss_that_is_not_a_number_stops_the_stage(value):
    check_finite("spin train (sft)", {"loss": 0.5, "step": 1})
    with pytest.raises(InvariantError, match=r"spin train \(sft\): loss is (nan|inf) at step 3"):
        check_finite("spin train (sft)", {"loss": value, "step": 3})
