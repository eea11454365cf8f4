"""The judge's settings: bounded, validated, and the API key only where it belongs."""

from __future__ import annotations

import pytest

from spin.errors import SpinError
from spin.eval.judge import JudgeConfig


def test_key_goes_to_the_configured_endpoint_only(monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-secret")
    local = "http://127.0.0.1:8000/v1"
    assert JudgeConfig(base_url=local, api_key_env="MY_KEY").api_key() == "EMPTY"
    assert (
        JudgeConfig(base_url=local, api_key_env="MY_KEY", send_key_to_loopback=True).api_key()
        == "sk-secret"
    )
    assert JudgeConfig(api_key_env="MY_KEY").api_key() == "sk-secret"
    monkeypatch.delenv("MY_KEY")
    with pytest.raises(SpinError, match=r"set \$MY_KEY"):
        JudgeConfig(api_key_env="MY_KEY").api_key()


def test_defaults_are_bounded_and_bad_values_refused():
    cfg = JudgeConfig()
    # worst case per call: tries x (timeout + sleep), far below openai's 600 s x fschat's 16
    assert cfg.api_max_retry * (cfg.timeout_s + cfg.api_retry_sleep) <= 600
    with pytest.raises(SpinError, match="timeout_s = 0"):
        JudgeConfig(timeout_s=0)
    with pytest.raises(SpinError, match="attempts = 0"):
        JudgeConfig(attempts=0)
    with pytest.raises(SpinError, match="cannot contain '/'"):
        JudgeConfig(model="org/judge")
