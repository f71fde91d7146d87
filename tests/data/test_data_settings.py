"""Data-source settings: durations, retry policy, bearer tokens, environment variables, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrain.data.settings import (
    DataSettings,
    PrometheusSettings,
    RetryPolicy,
    SyntheticSettings,
    parse_duration,
)
from retrain.errors import InvalidInput


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5m", 300.0), ("30s", 30.0), ("1h30m", 5400.0), ("90", 90.0), (60, 60.0), ("1d", 86400.0)],
)
def test_parse_duration(text: str | float, seconds: float) -> None:
    assert parse_duration(text, field="step") == seconds


@pytest.mark.parametrize("text", ["5 minutes", "m5", "", "0s", "-1", "nan"])
def test_parse_duration_refuses_nonsense_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_duration(text, field="PROMETHEUS_STEP")
    assert info.value.location is not None and info.value.location.field == "PROMETHEUS_STEP"


def test_retry_policy_backs_off_exponentially_up_to_a_cap() -> None:
    policy = RetryPolicy(attempts=6, initial_s=0.5, factor=2.0, max_s=3.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    with pytest.raises(InvalidInput, match="at least 1"):
        RetryPolicy(attempts=0)


def test_bearer_token_from_a_file_is_read_and_stripped(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n", encoding="utf-8")
    assert PrometheusSettings(bearer_token_file=token_file).bearer_token({}) == "s3cret"


def test_bearer_token_file_missing_or_empty_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(InvalidInput, match="cannot read the bearer token file") as info:
        PrometheusSettings(bearer_token_file=missing).bearer_token({})
    assert info.value.location is not None and info.value.location.file == str(missing)
    empty = tmp_path / "empty"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="empty"):
        PrometheusSettings(bearer_token_file=empty).bearer_token({})


def test_bearer_token_from_a_named_environment_variable() -> None:
    settings = PrometheusSettings(bearer_token_env="PROM_TOKEN")
    assert settings.bearer_token({"PROM_TOKEN": "abc"}) == "abc"
    with pytest.raises(InvalidInput, match=r"PROM_TOKEN .* unset or empty"):
        settings.bearer_token({})
    assert PrometheusSettings().bearer_token({"PROM_TOKEN": "abc"}) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"url": "prometheus:9090"}, "not an http"),
        ({"step_s": 0.0}, "step_s must be positive"),
        ({"timeout_s": -1.0}, "timeout_s must be positive"),
        ({"bearer_token_file": Path("t"), "bearer_token_env": "T"}, "not both"),
        ({"client_key_file": Path("k")}, "client key needs a client certificate"),
    ],
)
def test_prometheus_settings_refuse_bad_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        PrometheusSettings(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("rate", [-0.1, 0.6, float("nan")])
def test_anomaly_rate_out_of_range_is_refused(rate: float) -> None:
    with pytest.raises(InvalidInput, match="anomaly rate"):
        SyntheticSettings(anomaly_rate=rate)


def test_settings_from_the_notebook_contract_environment(tmp_path: Path) -> None:
    env = {
        "PROMETHEUS_URL": "https://prom.example:9091",
        "PROMETHEUS_STEP": "1m",
        "PROMETHEUS_BEARER_TOKEN_FILE": str(tmp_path / "token"),
        "PROMETHEUS_CA_FILE": str(tmp_path / "ca.pem"),
        "PROMETHEUS_INSECURE_SKIP_VERIFY": "false",
        "ANOMALY_RATE": "0.05",
        "SYNTHETIC_SEED": "7",
    }
    settings = DataSettings.from_env(env)
    assert settings.prometheus.url == "https://prom.example:9091"
    assert settings.prometheus.step_s == 60.0
    assert settings.prometheus.bearer_token_file == tmp_path / "token"
    assert settings.prometheus.ca_file == tmp_path / "ca.pem"
    assert settings.prometheus.insecure_skip_verify is False
    assert settings.synthetic == SyntheticSettings(seed=7, anomaly_rate=0.05)
    assert DataSettings.from_env({}) == DataSettings()


@pytest.mark.parametrize(
    ("name", "value"),
    [("ANOMALY_RATE", "lots"), ("SYNTHETIC_SEED", "1.5"), ("PROMETHEUS_INSECURE_SKIP_VERIFY", "maybe")],
)
def test_bad_environment_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(InvalidInput) as info:
        DataSettings.from_env({name: value})
    assert info.value.location is not None and info.value.location.field == name
