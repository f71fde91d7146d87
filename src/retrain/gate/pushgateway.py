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
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from retrain.exposition import CONTENT_TYPE, PushPolicy, gauge_lines, group_url, push_text
from retrain.gate.results import CheckResult, GateReport

__all__ = ["CONTENT_TYPE", "JOB", "PushPolicy", "exposition", "numeric_metrics", "push"]

log = logging.getLogger(__name__)

JOB = "retrain_gate"

_HELP = {
    "retrain_gate_verdict": "Verdict of the retrain gate for a model version: 1 blessed, 0 rejected.",
    "retrain_gate_check_passed": "Whether a gate check passed (1) or failed or was skipped (0).",
    "retrain_model_metric": "A model version's metric measured by the gate on held-out rows.",
    "retrain_gate_last_run_timestamp_seconds": "Unix time at which the gate last finished for the model.",
}


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
    lines = gauge_lines(series, _HELP)
    return "\n".join(lines) + "\n"


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
    started = time.perf_counter()
    url = group_url(base_url, JOB, report.model)
    body = exposition(report, finished).encode()
    outcome = push_text(url, body, policy=policy, sleep=sleep, transport=transport)
    reason = outcome.message if outcome.ok else f"{outcome.message} (the verdict stands)"
    return _result("passed" if outcome.ok else "failed", reason, url, outcome.attempts, started)


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
