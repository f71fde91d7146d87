"""The gate's values: one CheckResult per check, and the GateReport that holds them and the verdict.

`report_json` gives the persisted shape (a TypedDict): the machine-readable report of `retrain check`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

Outcome = Literal["passed", "failed", "skipped"]
VerdictName = Literal["blessed", "rejected"]

REPORT_SCHEMA = 1

# The stages, in the order they run (docs/gate.md). Quality entries are named `quality.<metric>[.change]`.
STAGES: tuple[str, ...] = ("artefact", "load", "contract", "predictions", "quality", "infra", "push")


@dataclass(frozen=True)
class CheckResult:
    """One check: what was measured, against what, and why it passed, failed or was skipped.

    `blocking` is False for the push to the Pushgateway: it is reported but never changes the verdict.
    """

    name: str
    outcome: Outcome
    value: Any = None
    threshold: Any = None
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None
    blocking: bool = True

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"

    @property
    def failed(self) -> bool:
        return self.outcome == "failed"

    @property
    def stage(self) -> str:
        return self.name.split(".", 1)[0]

    @classmethod
    def ok(
        cls, name: str, reason: str, *, value: Any = None, threshold: Any = None, **details: Any
    ) -> CheckResult:
        return cls(name, "passed", value, threshold, reason, dict(details))

    @classmethod
    def fail(
        cls, name: str, reason: str, *, value: Any = None, threshold: Any = None, **details: Any
    ) -> CheckResult:
        return cls(name, "failed", value, threshold, reason, dict(details))

    @classmethod
    def skip(cls, name: str, reason: str, **details: Any) -> CheckResult:
        return cls(name, "skipped", None, None, reason, dict(details))


class CheckJSON(TypedDict):
    name: str
    outcome: Outcome
    value: Any
    threshold: Any
    reason: str
    blocking: bool
    seconds: float | None
    details: dict[str, Any]


class ReportJSON(TypedDict):
    schema: int
    model: str
    version: int
    verdict: VerdictName
    reasons: list[str]
    baseline: dict[str, Any]
    holdout: dict[str, Any] | None
    thresholds: dict[str, Any]
    metrics: dict[str, Any]
    checks: list[CheckJSON]
    started_at: str
    seconds: float


@dataclass(frozen=True)
class GateReport:
    """The outcome of gating one version. The verdict follows from the blocking checks alone."""

    model: str
    version: int
    checks: tuple[CheckResult, ...]
    baseline: dict[str, Any]
    holdout: dict[str, Any] | None
    thresholds: dict[str, Any]
    metrics: dict[str, Any]  # {"candidate": {...}, "baseline": {...} or None, "training": {...}}
    started_at: str
    seconds: float

    @property
    def verdict(self) -> VerdictName:
        return "rejected" if any(c.failed and c.blocking for c in self.checks) else "blessed"

    @property
    def blessed(self) -> bool:
        return self.verdict == "blessed"

    @property
    def reasons(self) -> list[str]:
        """Why it was rejected: `name: reason` of every failed blocking check (empty when blessed)."""
        return [f"{c.name}: {c.reason}" for c in self.checks if c.failed and c.blocking]

    def check(self, name: str) -> CheckResult:
        for result in self.checks:
            if result.name == name:
                return result
        raise KeyError(name)

    def with_checks(self, *extra: CheckResult) -> GateReport:
        from dataclasses import replace

        return replace(self, checks=(*self.checks, *extra))


def check_json(result: CheckResult) -> CheckJSON:
    from retrain.registry.metadata import json_safe

    return {
        "name": result.name,
        "outcome": result.outcome,
        "value": json_safe(result.value, f"{result.name}.value"),
        "threshold": json_safe(result.threshold, f"{result.name}.threshold"),
        "reason": result.reason,
        "blocking": result.blocking,
        "seconds": None if result.seconds is None else round(result.seconds, 4),
        "details": json_safe(result.details, f"{result.name}.details"),
    }


def report_json(report: GateReport) -> ReportJSON:
    from retrain.registry.metadata import json_safe

    return {
        "schema": REPORT_SCHEMA,
        "model": report.model,
        "version": report.version,
        "verdict": report.verdict,
        "reasons": report.reasons,
        "baseline": json_safe(report.baseline, "baseline"),
        "holdout": json_safe(report.holdout, "holdout"),
        "thresholds": json_safe(report.thresholds, "thresholds"),
        "metrics": json_safe(report.metrics, "metrics"),
        "checks": [check_json(c) for c in report.checks],
        "started_at": report.started_at,
        "seconds": round(report.seconds, 3),
    }
