"""Drift reports as Prometheus gauges: text exposition lines (for /metrics) and a Pushgateway push.

Series (text format 0.0.4), one set per model:

- `retrain_model_drift_score{model}`: the share of the model's features that drifted (0..1);
- `retrain_model_drift_threshold{model}`: the share at which the model counts as drifted, so the
  `ModelDrift` alerting rule compares with it instead of repeating the number;
- `retrain_model_drifted{model}`: 1 drifted, 0 not;
- `retrain_model_drift_reference_version{model}`: the version whose reference was used;
- `retrain_model_drift_last_check_timestamp_seconds{model}`: when the check ran;
- `retrain_feature_drift_psi{model,feature}` and `retrain_feature_drift_ks_statistic{model,feature}`.

Pushed with the grouping key (job `retrain_drift`, model): each check replaces the model's previous
series. The Pushgateway adds `job` and `model` itself, so the pushed body leaves `model` out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from retrain.drift.check import DriftReport

__all__ = ["HELP", "JOB", "PushOutcome", "PushPolicy", "exposition_lines", "push", "samples"]
from retrain.exposition import PushOutcome, PushPolicy, gauge_lines, group_url, push_text

log = logging.getLogger(__name__)

JOB = "retrain_drift"

HELP: dict[str, str] = {
    "retrain_model_drift_score": "Share of the model's features whose live distribution drifted (0..1).",
    "retrain_model_drift_threshold": "Drift score at which the model counts as drifted.",
    "retrain_model_drifted": "1 when the model's last drift check found drift, else 0.",
    "retrain_model_drift_reference_version": "Model version whose training reference the check used.",
    "retrain_model_drift_last_check_timestamp_seconds": "Unix time of the model's last drift check.",
    "retrain_feature_drift_psi": "Population stability index of a feature against its training reference.",
    "retrain_feature_drift_ks_statistic": "Kolmogorov-Smirnov distance (lower bound) of a feature.",
}


def samples(report: DriftReport, *, with_model: bool = True) -> dict[str, list[tuple[dict[str, str], float]]]:
    model = {"model": report.model} if with_model else {}
    out: dict[str, list[tuple[dict[str, str], float]]] = {name: [] for name in HELP}
    out["retrain_model_drift_score"].append((model, report.score))
    out["retrain_model_drift_threshold"].append((model, report.thresholds.share))
    out["retrain_model_drifted"].append((model, 1.0 if report.drifted else 0.0))
    out["retrain_model_drift_reference_version"].append((model, float(report.version)))
    out["retrain_model_drift_last_check_timestamp_seconds"].append((model, report.checked_at.timestamp()))
    for feature in report.features:
        labels = {**model, "feature": feature.feature}
        out["retrain_feature_drift_psi"].append((labels, feature.psi))
        out["retrain_feature_drift_ks_statistic"].append((labels, feature.ks_statistic))
    return out


def exposition_lines(reports: Iterable[DriftReport], *, with_model: bool = True) -> list[str]:
    """HELP/TYPE once per metric, then every report's samples (pure)."""
    merged: dict[str, list[tuple[dict[str, str], float]]] = {name: [] for name in HELP}
    for report in reports:
        for name, found in samples(report, with_model=with_model).items():
            merged[name] += found
    return gauge_lines(merged, HELP)


def push(
    base_url: str,
    report: DriftReport,
    *,
    policy: PushPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    transport: Any = None,
) -> PushOutcome:
    """PUT the report's series to the Pushgateway, retrying connection errors and 5xx with backoff."""
    url = group_url(base_url, JOB, report.model)
    body = ("\n".join(exposition_lines([report], with_model=False)) + "\n").encode()
    return push_text(url, body, policy=policy, sleep=sleep, transport=transport)
