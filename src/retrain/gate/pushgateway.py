"""Pushing the gate's outcome to a Prometheus Pushgateway, as a batch job should.

One PUT per run to `/metrics/job/retrain_gate/model/<model>`: the grouping key is (job, model), so each run
replaces the previous run's series of that model and nothing stale lingers (the Pushgateway adds the
grouping labels `job` and `model` to every series; the body carries neither, as the Pushgateway requires).
Series (text exposition format 0.0.4):

- `retrain_gate_verdict{model,version}`: 1 blessed, 0 rejected;
- `retrain_gate_check_passed{model,version,check}`: 1 passed, 0 failed or skipped;
- `retrain_model_metric{model,version,metric}`: the candidate's metrics measured on the held-out rows;
- `retrain_gate_last_run_timestamp_seconds{model}`: when this run finished (alert when it grows old).

Connection errors and 5xx answers are retried with exponential backoff; a push that still fails is
reported (a non-blocking `push` check) and logged, and never changes the verdict.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from retrain.gate.results import CheckResult, GateReport

log = logging.getLogger(__name__)

JOB = "retrain_gate"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_HELP = {
    "retrain_gate_verdict": "Verdict of the retrain gate for a model version: 1 blessed, 0 rejected.",
    "retrain_gate_check_passed": "Whether a gate check passed (1) or failed or was skipped (0).",
    "retrain_model_metric": "A model version's metric measured by the gate on held-out rows.",
    "retrain_gate_last_run_timestamp_seconds": "Unix time at which the gate last finished for the model.",
}


@dataclass(frozen=True)
class PushPolicy:
    attempts: int = 3
    initial_s: float = 0.5
    factor: float = 2.0
    timeout_s: float = 5.0


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Mapping[str, str]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}" if labels else ""


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def numeric_metrics(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    """The top-level numeric metrics (nested per-target tables, strings and booleans are left out)."""
    out: dict[str, float] = {}
    for name, value in (metrics or {}).items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[str(name)] = float(value)
    return out


def exposition(report: GateReport, finished: datetime) -> str:
    """The text exposition body of one gate run (pure)."""
    version = str(report.version)
    series: dict[str, list[tuple[dict[str, str], float]]] = {name: [] for name in _HELP}
    series["retrain_gate_verdict"].append(({"version": version}, 1.0 if report.blessed else 0.0))
    for check in report.checks:
        if check.blocking:
            value = 1.0 if check.passed else 0.0
            series["retrain_gate_check_passed"].append(({"version": version, "check": check.name}, value))
    for name, value in sorted(numeric_metrics(report.metrics.get("candidate")).items()):
        series["retrain_model_metric"].append(({"version": version, "metric": name}, value))
    series["retrain_gate_last_run_timestamp_seconds"].append(({}, finished.timestamp()))
    lines: list[str] = []
    for name, samples in series.items():
        if not samples:
            continue
        lines += [f"# HELP {name} {_HELP[name]}", f"# TYPE {name} gauge"]
        lines += [f"{name}{_labels(labels)} {_number(value)}" for labels, value in samples]
    return "\n".join(lines) + "\n"


def group_url(base: str, model: str) -> str:
    return f"{base.rstrip('/')}/metrics/job/{JOB}/model/{quote(model, safe='')}"


def push(
    base_url: str,
    report: GateReport,
    finished: datetime,
    *,
    policy: PushPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    transport: Any = None,
) -> CheckResult:
    """PUT the run's series; a non-blocking `push` CheckResult says whether and how it went."""
    import httpx

    policy = policy or PushPolicy()
    url = group_url(base_url, report.model)
    body = exposition(report, finished).encode()
    error = ""
    started = time.perf_counter()
    with httpx.Client(timeout=policy.timeout_s, transport=transport) as client:
        for attempt in range(1, policy.attempts + 1):
            try:
                answer = client.put(url, content=body, headers={"Content-Type": CONTENT_TYPE})
            except httpx.HTTPError as err:
                error = f"{type(err).__name__}: {err}"
            else:
                if answer.status_code < 300:
                    return _result("passed", f"pushed {len(body)} bytes to {url}", url, attempt, started)
                error = f"HTTP {answer.status_code}: {answer.text.strip()[:300]}"
                if answer.status_code < 500:
                    break  # the Pushgateway refused the body: retrying sends the same body again
            if attempt < policy.attempts:
                sleep(policy.initial_s * policy.factor ** (attempt - 1))
    log.warning("could not push the gate's metrics to %s: %s", url, error)
    return _result("failed", f"could not push to {url}: {error} (the verdict stands)", url, attempt, started)


def _result(outcome: str, reason: str, url: str, attempts: int, started: float) -> CheckResult:
    return CheckResult(
        "push",
        "passed" if outcome == "passed" else "failed",
        {"attempts": attempts},
        {"url": url},
        reason,
        {},
        time.perf_counter() - started,
        blocking=False,
    )
