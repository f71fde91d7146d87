"""Settings of the data sources: where Prometheus is, how to authenticate, how hard to retry, synthetic seed.

Pure values (no I/O at construction); `from_env` reads the notebook contract's environment variables
(`PROMETHEUS_URL`, `ANOMALY_RATE`, ...) from an injected mapping so tests never touch `os.environ`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from retrain.errors import InvalidInput, Location

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(text: str | float, *, field: str) -> float:
    """Seconds in a Prometheus-style duration (`30s`, `5m`, `1h30m`) or a plain number of seconds."""
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        raw = text.strip()
        try:
            seconds = float(raw)
        except ValueError:
            parts = _DURATION.findall(raw)
            if not parts or "".join(n + u for n, u in parts) != raw:
                raise InvalidInput(
                    f"{text!r} is not a duration",
                    location=Location(field=field),
                    hint="write seconds or a Prometheus duration such as 30s, 1m, 5m, 1h",
                ) from None
            seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidInput(
            f"duration must be positive, got {text!r}", location=Location(field=field), hint="for example 5m"
        )
    return seconds


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff for connection errors, 429 and 5xx: `attempts` tries in all."""

    attempts: int = 4
    initial_s: float = 0.5
    factor: float = 2.0
    max_s: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise InvalidInput(
                f"retry attempts must be at least 1, got {self.attempts}",
                location=Location(field="prometheus.retry.attempts"),
            )
        if self.initial_s < 0 or self.factor < 1 or self.max_s < 0:
            raise InvalidInput(
                "retry backoff needs initial_s >= 0, factor >= 1 and max_s >= 0",
                location=Location(field="prometheus.retry"),
            )

    def delay(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failed try (1-based)."""
        return float(min(self.max_s, self.initial_s * self.factor ** (failures - 1)))


@dataclass(frozen=True)
class PrometheusSettings:
    """How to reach Prometheus. `queries` overrides the built-in PromQL per metric name."""

    url: str = "http://localhost:9090"
    bearer_token_file: Path | None = None
    bearer_token_env: str | None = None  # the NAME of an environment variable that holds the token
    ca_file: Path | None = None
    client_cert_file: Path | None = None
    client_key_file: Path | None = None
    insecure_skip_verify: bool = False
    step_s: float = 300.0
    timeout_s: float = 30.0
    queries: Mapping[str, str] = field(default_factory=dict)
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        if not re.match(r"^https?://[^/\s]+", self.url):
            raise InvalidInput(
                f"Prometheus URL {self.url!r} is not an http(s) URL",
                location=Location(field="prometheus.url"),
                hint="for example http://prometheus:9090",
            )
        if self.bearer_token_file is not None and self.bearer_token_env is not None:
            raise InvalidInput(
                "give the bearer token either from a file or from an environment variable, not both",
                location=Location(field="prometheus.bearer_token_file"),
            )
        if self.client_key_file is not None and self.client_cert_file is None:
            raise InvalidInput(
                "a client key needs a client certificate",
                location=Location(field="prometheus.client_key_file"),
            )
        for name, value in (("step_s", self.step_s), ("timeout_s", self.timeout_s)):
            if not math.isfinite(value) or value <= 0:
                raise InvalidInput(
                    f"{name} must be positive, got {value}", location=Location(field=f"prometheus.{name}")
                )

    def bearer_token(self, environ: Mapping[str, str]) -> str | None:
        """The token to send, read now (a rotated token file is picked up on the next fetch)."""
        if self.bearer_token_file is not None:
            try:
                token = self.bearer_token_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise InvalidInput(
                    f"cannot read the bearer token file: {exc.strerror or exc}",
                    location=Location(file=str(self.bearer_token_file), field="prometheus.bearer_token_file"),
                    hint="mount the service-account token there or point bearer_token_file elsewhere",
                ) from None
            if not token:
                raise InvalidInput(
                    "the bearer token file is empty",
                    location=Location(file=str(self.bearer_token_file), field="prometheus.bearer_token_file"),
                )
            return token
        if self.bearer_token_env is not None:
            token = environ.get(self.bearer_token_env, "").strip()
            if not token:
                raise InvalidInput(
                    f"environment variable {self.bearer_token_env} (the bearer token) is unset or empty",
                    location=Location(field="prometheus.bearer_token_env"),
                    hint=f"export {self.bearer_token_env}=<token>",
                )
            return token
        return None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> PrometheusSettings:
        """Read `PROMETHEUS_URL`, `PROMETHEUS_STEP`, `PROMETHEUS_BEARER_TOKEN_FILE`, `PROMETHEUS_CA_FILE`,
        `PROMETHEUS_INSECURE_SKIP_VERIFY`; unset variables keep the defaults."""
        step = environ.get("PROMETHEUS_STEP", "").strip()
        insecure = environ.get("PROMETHEUS_INSECURE_SKIP_VERIFY", "").strip().lower()
        return cls(
            url=environ.get("PROMETHEUS_URL", "").strip() or cls.url,
            step_s=parse_duration(step, field="PROMETHEUS_STEP") if step else cls.step_s,
            bearer_token_file=_path(environ, "PROMETHEUS_BEARER_TOKEN_FILE"),
            ca_file=_path(environ, "PROMETHEUS_CA_FILE"),
            insecure_skip_verify=_flag(insecure, "PROMETHEUS_INSECURE_SKIP_VERIFY"),
        )


@dataclass(frozen=True)
class SyntheticSettings:
    """Seed and injected anomaly rate of the synthetic source (same seed and window -> identical frames)."""

    seed: int = 42
    anomaly_rate: float = 0.03

    def __post_init__(self) -> None:
        if not (math.isfinite(self.anomaly_rate) and 0 <= self.anomaly_rate <= 0.5):
            raise InvalidInput(
                f"anomaly rate must be between 0 and 0.5, got {self.anomaly_rate}",
                location=Location(field="ANOMALY_RATE"),
                hint="the default is 0.03 (3% of rows)",
            )


@dataclass(frozen=True)
class DataSettings:
    """Everything `retrain.data.fetch` needs besides the model, the source and the window."""

    prometheus: PrometheusSettings = field(default_factory=PrometheusSettings)
    synthetic: SyntheticSettings = field(default_factory=SyntheticSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> DataSettings:
        """The notebook contract's variables plus `PROMETHEUS_*` and `SYNTHETIC_SEED`."""
        rate_text = environ.get("ANOMALY_RATE", "").strip()
        seed_text = environ.get("SYNTHETIC_SEED", "").strip()
        try:
            rate = float(rate_text) if rate_text else SyntheticSettings.anomaly_rate
        except ValueError:
            raise InvalidInput(
                f"ANOMALY_RATE={rate_text!r} is not a number", location=Location(field="ANOMALY_RATE")
            ) from None
        try:
            seed = int(seed_text) if seed_text else SyntheticSettings.seed
        except ValueError:
            raise InvalidInput(
                f"SYNTHETIC_SEED={seed_text!r} is not an integer", location=Location(field="SYNTHETIC_SEED")
            ) from None
        return cls(PrometheusSettings.from_env(environ), SyntheticSettings(seed=seed, anomaly_rate=rate))


def _path(environ: Mapping[str, str], name: str) -> Path | None:
    text = environ.get(name, "").strip()
    return Path(text) if text else None


def _flag(text: str, name: str) -> bool:
    if text in ("", "0", "false", "no", "off"):
        return False
    if text in ("1", "true", "yes", "on"):
        return True
    raise InvalidInput(
        f"{name}={text!r} is not a boolean", location=Location(field=name), hint="use true or false"
    )
