"""Prometheus text exposition and Pushgateway pushes, shared by the gate and the drift check.

A batch job pushes its gauges with PUT to `/metrics/job/<job>/model/<model>` (the grouping key replaces the
previous push of that model); connection errors and 5xx are retried with backoff, a refused body is not.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Samples = Sequence[tuple[Mapping[str, str], float]]


@dataclass(frozen=True)
class PushPolicy:
    attempts: int = 3
    initial_s: float = 0.5
    factor: float = 2.0
    timeout_s: float = 5.0


@dataclass(frozen=True)
class PushOutcome:
    ok: bool
    url: str
    attempts: int
    message: str


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def labels_text(labels: Mapping[str, str]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}" if labels else ""


def number_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def gauge_lines(series: Mapping[str, Samples], help_texts: Mapping[str, str]) -> list[str]:
    """HELP and TYPE once per metric that has samples, then its samples (pure)."""
    lines: list[str] = []
    for name, samples in series.items():
        if not samples:
            continue
        lines += [f"# HELP {name} {help_texts[name]}", f"# TYPE {name} gauge"]
        lines += [f"{name}{labels_text(labels)} {number_text(value)}" for labels, value in samples]
    return lines


def group_url(base: str, job: str, model: str) -> str:
    return f"{base.rstrip('/')}/metrics/job/{job}/model/{quote(model, safe='')}"


def push_text(
    url: str,
    body: bytes,
    *,
    policy: PushPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    transport: Any = None,
) -> PushOutcome:
    """PUT `body` to a Pushgateway group URL, retrying connection errors and 5xx with backoff."""
    import httpx

    policy = policy or PushPolicy()
    error = ""
    attempt = 0
    with httpx.Client(timeout=policy.timeout_s, transport=transport) as client:
        for attempt in range(1, policy.attempts + 1):
            try:
                answer = client.put(url, content=body, headers={"Content-Type": CONTENT_TYPE})
            except httpx.HTTPError as err:
                error = f"{type(err).__name__}: {err}"
            else:
                if answer.status_code < 300:
                    return PushOutcome(True, url, attempt, f"pushed {len(body)} bytes to {url}")
                error = f"HTTP {answer.status_code}: {answer.text.strip()[:300]}"
                if answer.status_code < 500:
                    break  # the body was refused: sending it again would not help
            if attempt < policy.attempts:
                sleep(policy.initial_s * policy.factor ** (attempt - 1))
    log.warning("could not push metrics to %s: %s", url, error)
    return PushOutcome(False, url, attempt, f"could not push to {url}: {error}")
