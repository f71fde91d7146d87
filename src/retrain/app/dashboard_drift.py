"""What the dashboard's Drift page shows: per model, the drift score over time, the per-feature PSI/KS of the
latest check, and the retraining runs that drift alerts started.

The history is the drift reports kept beside each model (`retrain.app.reports`: every `retrain drift check`
and every scheduled check of `retrain serve` writes one); the runs come from the run store (trigger
`drift-alert`). Nothing here formats HTML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retrain.app.runs import RunSummary
    from retrain.runs.store import RunStore

DRIFT_TRIGGER = "drift-alert"


@dataclass(frozen=True)
class DriftPoint:
    checked_at: str
    version: int
    score: float
    drifted: bool


@dataclass(frozen=True)
class FeatureRow:
    feature: str
    psi: float
    psi_limit: float
    band: str
    ks_statistic: float
    ks_pvalue: float
    drifted: bool


@dataclass(frozen=True)
class LatestCheck:
    checked_at: str
    version: int
    score: float
    drifted: bool
    share: float  # the alert threshold on the score
    psi: float  # the PSI threshold of a feature
    live_rows: int
    reference_rows: int
    window: Mapping[str, Any]
    notes: tuple[str, ...]
    features: tuple[FeatureRow, ...]  # largest PSI first


@dataclass(frozen=True)
class ModelDrift:
    model: str
    serving: int | None
    history: tuple[DriftPoint, ...]  # oldest first
    latest: LatestCheck | None
    runs: tuple[RunSummary, ...]  # started by drift alerts, newest first


@dataclass(frozen=True)
class DriftOverview:
    models: tuple[ModelDrift, ...]


def _float(value: Any, default: float = 0.0) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _latest(report: Mapping[str, Any]) -> LatestCheck:
    thresholds = report.get("thresholds") or {}
    features = [
        FeatureRow(
            str(f.get("feature", "")),
            _float(f.get("psi")),
            _float(f.get("psi_limit"), _float(thresholds.get("psi"), 0.25)),
            str(f.get("band", "")),
            _float(f.get("ks_statistic")),
            _float(f.get("ks_pvalue"), 1.0),
            bool(f.get("drifted")),
        )
        for f in report.get("features") or []
        if isinstance(f, Mapping)
    ]
    features.sort(key=lambda f: -f.psi)
    return LatestCheck(
        checked_at=str(report.get("checked_at", "")),
        version=int(report.get("version") or 0),
        score=_float(report.get("score")),
        drifted=bool(report.get("drifted")),
        share=_float(thresholds.get("share"), 0.3),
        psi=_float(thresholds.get("psi"), 0.25),
        live_rows=int(report.get("live_rows") or 0),
        reference_rows=int(report.get("reference_rows") or 0),
        window=dict(report.get("window") or {}),
        notes=tuple(str(n) for n in report.get("notes") or []),
        features=tuple(features),
    )


def model_drift(
    model: str, registry: Path | None, store: RunStore | None, *, history: int = 200, runs: int = 20
) -> ModelDrift:
    from retrain.app.reports import load_drift_reports
    from retrain.app.runs import ListRunsRequest, list_runs
    from retrain.registry import Registry, default_root

    reg = Registry(registry if registry is not None else default_root())
    serving = reg.aliases(model).get("serving")  # NotFound for an unknown model
    reports = load_drift_reports(reg.root, model, limit=history)
    points = tuple(
        DriftPoint(str(r.get("checked_at", "")), int(r.get("version") or 0), _float(r.get("score")),
                   bool(r.get("drifted")))
        for r in reports
    )  # fmt: skip
    started: tuple[RunSummary, ...] = ()
    if store is not None:
        started = list_runs(store, ListRunsRequest(model=model, trigger=DRIFT_TRIGGER, last=runs)).runs
    return ModelDrift(model, serving, points, _latest(reports[-1]) if reports else None, started)


def drift_overview(registry: Path | None, store: RunStore | None) -> DriftOverview:
    """Every model of the registry, in name order."""
    from retrain.registry import Registry, default_root

    reg = Registry(registry if registry is not None else default_root())
    return DriftOverview(tuple(model_drift(m, reg.root, store) for m in reg.models()))
