"""Drift check of one model: its recent inputs against the training reference of the version it serves.

The use case behind `retrain drift check` (and what a drift alert's receiver runs): the `drift:` section of
retrain.yaml gives the defaults (window, source, thresholds), the request overrides them; the report is
pushed to a Pushgateway and written as JSON where asked. Drift is an outcome, not an error: the result says
whether the model drifted, why, and what to do next. Unknown models, versions or references are
`NotFound`, bad options `InvalidInput`, an unreachable data source a `TemporaryError`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from retrain.errors import InvalidInput, Location

if TYPE_CHECKING:
    from retrain.drift import DriftReport
    from retrain.drift.exposition import PushOutcome

Outcome = Literal["drifted", "no-drift"]


@dataclass(frozen=True)
class DriftCheckRequest:
    model: str
    version: int | None = None  # None: the version in service
    hours: float | None = None  # the live window; None: the config's (24)
    data_source: str | None = None  # synthetic, prometheus or hybrid; None: the config's (prometheus)
    end: datetime | None = None  # end of the live window; None: now
    share: float | None = None  # drifted at this share of drifted features; None: the config's (0.3)
    registry: Path | None = None  # None: $RETRAIN_REGISTRY, else the data home's registry
    config: Path | None = None  # retrain.yaml (its `drift:` section); None: built-in defaults
    prometheus_url: str | None = None  # None: $PROMETHEUS_URL, else localhost:9090
    pushgateway: str | None = None  # None: the config's, else no push
    report_path: Path | None = None  # write the JSON report here
    environ: Mapping[str, str] | None = None  # None: the process environment


@dataclass(frozen=True)
class DriftCheckResult:
    model: str
    version: int
    outcome: Outcome
    reason: str
    report: DriftReport  # every feature's measures, the window, the thresholds, the notes
    push: PushOutcome | None  # None: no Pushgateway configured
    report_path: Path | None
    next_action: str

    @property
    def drifted(self) -> bool:
        return self.outcome == "drifted"


def check_share(value: float) -> float:
    if not (math.isfinite(value) and 0 < value <= 1):
        raise InvalidInput(
            f"--share must be in (0, 1], got {value}", location=Location(field="--share"), hint="e.g. 0.3"
        )
    return value


def check_hours(value: float) -> float:
    if not (math.isfinite(value) and value > 0):
        raise InvalidInput(
            f"--hours must be a positive number, got {value}",
            location=Location(field="--hours"),
            hint="a live window of at least 24 h compares whole days; e.g. 24",
        )
    return value


def drift_check(request: DriftCheckRequest) -> DriftCheckResult:
    """Check the model's drift, push the gauges and write the report where asked."""
    from retrain.data.sources import check_source
    from retrain.drift import check_model, load_drift_settings, push
    from retrain.registry import Registry, default_root
    from retrain.training.handoff import data_settings

    environ = os.environ if request.environ is None else request.environ
    settings = load_drift_settings(request.config)
    thresholds = settings.thresholds_for(request.model)
    if request.share is not None:
        thresholds = replace(thresholds, share=check_share(request.share))
    hours = check_hours(settings.hours if request.hours is None else request.hours)
    source = check_source(request.data_source or settings.data_source)
    report = check_model(
        Registry(request.registry or default_root()),
        request.model,
        version=request.version,
        hours=hours,
        source=source,
        settings=data_settings(environ, prometheus_url=request.prometheus_url),
        thresholds=thresholds,
        end=request.end,
        environ=environ,
    )
    gateway = request.pushgateway or settings.pushgateway
    pushed = push(gateway, report) if gateway else None
    if request.report_path is not None:
        text = json.dumps(report.to_json(), indent=2) + "\n"
        request.report_path.write_text(text, encoding="utf-8")
    keep_drift_report(request.registry or default_root(), report)
    return DriftCheckResult(
        model=report.model,
        version=report.version,
        outcome="drifted" if report.drifted else "no-drift",
        reason=_reason(report),
        report=report,
        push=pushed,
        report_path=request.report_path,
        next_action=_next_action(report),
    )


def keep_drift_report(root: Path, report: DriftReport) -> Path | None:
    """Keep the report beside the model (`retrain.app.reports`): the dashboard's drift history. The
    service's scheduled checks call this too. A failure to write is logged, never raised."""
    import logging

    from retrain.app.reports import save_drift_report

    try:
        return save_drift_report(root, report.model, report.checked_at, report.to_json())
    except (OSError, ValueError) as err:
        logging.getLogger(__name__).warning("the drift report of %s was not kept: %s", report.model, err)
        return None


def _reason(report: DriftReport) -> str:
    drifted = report.drifted_features
    count = f"{len(drifted)} of {len(report.features)} features drifted"
    if not drifted:
        return f"{count} (drift score 0.00)"
    shown = ", ".join(drifted[:5]) + (f" and {len(drifted) - 5} more" if len(drifted) > 5 else "")
    limit = f"drifted at >= {report.thresholds.share:g}"
    return f"{count} (drift score {report.score:.2f}; {limit}): {shown}"


def _next_action(report: DriftReport) -> str:
    if report.drifted:
        return (
            f"retrain the model on recent data: retrain trigger {report.model} "
            f"(or let a drift alert trigger it); see the features above for what moved"
        )
    if report.drifted_features:
        return (
            "nothing to do yet: too few features drifted to call the model drifted; keep an eye on "
            + ", ".join(report.drifted_features[:5])
        )
    return "nothing to do; the serving version's training data still describes its inputs"
