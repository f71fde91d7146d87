"""Check 5 as a pure function: value and change thresholds on metrics measured on the same held-out rows.

TFX Evaluator semantics: every value threshold must hold for the candidate; every change threshold must
hold against the baseline (the serving version) when there is one. With no baseline only the value
thresholds apply (the "rubber stamp" of the first version), and each change threshold says why it was
skipped. A metric the evaluation could not compute (`None`, e.g. F1 on unlabelled rows) fails its value
threshold: a gate that cannot measure must not bless.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from retrain.gate.results import CheckResult
from retrain.gate.thresholds import MetricThreshold

EPSILON = 1e-12  # metrics are rounded to 6 places; this only absorbs float noise at an exact bound


def _number(metrics: Mapping[str, Any] | None, name: str) -> float | None:
    if metrics is None:
        return None
    value = metrics.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _undefined(metrics: Mapping[str, Any], name: str) -> str:
    note = metrics.get("evaluation_note")
    where = f" ({note})" if note else ""
    return f"{name} could not be measured on the held-out rows{where}"


def value_check(threshold: MetricThreshold, candidate: Mapping[str, Any]) -> CheckResult:
    name = f"quality.{threshold.metric}"
    bound = threshold.describe_value()
    limits = {"min": threshold.min, "max": threshold.max}
    value = _number(candidate, threshold.metric)
    if value is None:
        return CheckResult.fail(name, _undefined(candidate, threshold.metric), threshold=limits)
    if threshold.min is not None and value < threshold.min - EPSILON:
        return CheckResult.fail(
            name,
            f"{threshold.metric} = {value:.4g}, below the minimum {threshold.min:g}",
            value=value,
            threshold=limits,
        )
    if threshold.max is not None and value > threshold.max + EPSILON:
        return CheckResult.fail(
            name,
            f"{threshold.metric} = {value:.4g}, above the maximum {threshold.max:g}",
            value=value,
            threshold=limits,
        )
    return CheckResult.ok(name, f"{threshold.metric} = {value:.4g} ({bound})", value=value, threshold=limits)


def change_check(
    threshold: MetricThreshold,
    candidate: Mapping[str, Any],
    baseline: Mapping[str, Any] | None,
    baseline_version: int | None,
    no_baseline: str,
) -> CheckResult:
    assert threshold.change is not None
    name = f"quality.{threshold.metric}.change"
    change = threshold.change
    limits = {"direction": threshold.direction, "absolute": change.absolute, "relative": change.relative}
    if baseline is None:
        return CheckResult.skip(name, no_baseline)
    old = _number(baseline, threshold.metric)
    if old is None:
        return CheckResult.skip(
            name, f"the baseline (version {baseline_version})'s {_undefined(baseline, threshold.metric)}"
        )
    new = _number(candidate, threshold.metric)
    if new is None:
        return CheckResult.fail(name, _undefined(candidate, threshold.metric), threshold=limits)
    worse = old - new if threshold.direction == "higher_is_better" else new - old
    value = {
        "candidate": new,
        "baseline": old,
        "baseline_version": baseline_version,
        "worse_by": round(worse, 6),
    }
    allowed = []
    if change.absolute is not None:
        allowed.append(change.absolute)
    if change.relative is not None:
        allowed.append(change.relative * abs(old))
    limit = min(allowed)
    comparison = f"{threshold.metric} {new:.4g} vs {old:.4g} for the serving version {baseline_version}"
    if worse > limit + EPSILON:
        return CheckResult.fail(
            name,
            f"regression: {comparison}, {worse:.4g} worse; allowed: {threshold.describe_change()}",
            value=value,
            threshold=limits,
        )
    how = "better" if worse < 0 else ("worse" if worse > 0 else "changed")
    amount = f"{abs(worse):.4g} {how}" if worse else "unchanged"
    return CheckResult.ok(
        name,
        f"{comparison}: {amount} (allowed: {threshold.describe_change()})",
        value=value,
        threshold=limits,
    )


def quality(
    thresholds: Sequence[MetricThreshold],
    candidate: Mapping[str, Any],
    baseline: Mapping[str, Any] | None,
    *,
    baseline_version: int | None,
    no_baseline: str,
) -> list[CheckResult]:
    """One result per value threshold and per change threshold, in the configured order."""
    if not thresholds:
        return [CheckResult.skip("quality", "no metric thresholds are configured for this model")]
    results: list[CheckResult] = []
    for threshold in thresholds:
        if threshold.min is not None or threshold.max is not None:
            results.append(value_check(threshold, candidate))
        if threshold.change is not None:
            results.append(change_check(threshold, candidate, baseline, baseline_version, no_baseline))
    return results
