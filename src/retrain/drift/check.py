"""Drift of a model: its recent inputs against the reference stored with the version it serves.

Per feature: PSI (bands 0.1 / 0.25) and the KS lower bound with its p-value (`retrain.drift.measures`).
A feature has drifted when its PSI is significant (>= `psi`), or when the KS test is significant (p <
`ks_alpha`) *and* its effect is large (D >= `ks_statistic`): with thousands of rows the p-value alone calls
every daily-cycle wobble significant. The model-level **drift score** is the share of its features that
drifted (0..1, as Evidently's "share of drifted columns"); the model has drifted when the score reaches
`share`.

Defaults, measured on the built-in models' synthetic data (reference: 168 h; live: fresh 24 h windows with
other seeds and end times): same-distribution windows score 0.13 (anomaly detector: the six
`container_restart_count` value/mean/min/max/lag features always drift, because the counter is cumulative)
and 0.2 (forecaster: `disk_usage` trends upward); scaling four metrics by 2 scores 0.84 and 1.0. Windows
much shorter than a day are not comparable with a reference that spans daily cycles (a 6 h window scored
0.71 with no drift at all): keep `--hours` at 24 or more for models trained on daily patterns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from retrain.errors import InvalidInput, Location, NotFound

if TYPE_CHECKING:
    import numpy as np

    from retrain.data import DataSettings
    from retrain.drift.measures import Band
    from retrain.registry import Registry, VersionInfo
    from retrain.training.reference import ReferenceJSON


@dataclass(frozen=True)
class Thresholds:
    psi: float = 0.25  # a feature drifted at PSI >= this (the "significant" band)
    psi_moderate: float = 0.1  # the "moderate" band starts here (reported, not a drift by itself)
    ks_alpha: float = 0.01  # KS significance level
    ks_statistic: float = 0.2  # ... and the effect size the KS lower bound must reach
    share: float = 0.3  # the model drifted when at least this share of its features drifted


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    psi: float
    band: Band
    ks_statistic: float
    ks_pvalue: float
    drifted: bool
    reference_mean: float
    live_mean: float


@dataclass(frozen=True)
class DriftReport:
    model: str
    version: int
    score: float  # share of drifted features, 0..1
    drifted: bool
    features: tuple[FeatureDrift, ...]
    reference_rows: int
    live_rows: int
    thresholds: Thresholds
    checked_at: datetime
    window: Mapping[str, Any] = field(default_factory=dict)  # the data: source, hours, start, end, fallback
    notes: tuple[str, ...] = ()

    @property
    def drifted_features(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    @property
    def max_psi(self) -> float:
        return max((f.psi for f in self.features), default=0.0)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "score": self.score,
            "drifted": self.drifted,
            "drifted_features": self.drifted_features,
            "max_psi": self.max_psi,
            "reference_rows": self.reference_rows,
            "live_rows": self.live_rows,
            "thresholds": asdict(self.thresholds),
            "checked_at": self.checked_at.isoformat(),
            "window": dict(self.window),
            "notes": list(self.notes),
            "features": [asdict(f) for f in self.features],
        }


def compare(
    reference: ReferenceJSON, inputs: np.ndarray, names: Sequence[str], thresholds: Thresholds
) -> tuple[tuple[FeatureDrift, ...], float]:
    """Each named column of `inputs` against its reference; the features and the model's drift score."""
    import numpy as np

    from retrain.drift.measures import kolmogorov_pvalue, ks_statistic, psi, psi_band

    levels = reference["quantile_levels"]
    out: list[FeatureDrift] = []
    for i, name in enumerate(names):
        ref = reference["features"].get(name)
        if ref is None:
            continue
        column = inputs[:, i]
        values = column[np.isfinite(column)]
        value = psi(ref, values)
        stat = ks_statistic(ref, levels, values)
        pvalue = kolmogorov_pvalue(stat, ref["count"], int(values.size))
        ks_drift = pvalue < thresholds.ks_alpha and stat >= thresholds.ks_statistic
        out.append(
            FeatureDrift(
                feature=name,
                psi=value,
                band=psi_band(value, thresholds.psi_moderate, thresholds.psi),
                ks_statistic=stat,
                ks_pvalue=pvalue,
                drifted=value >= thresholds.psi or ks_drift,
                reference_mean=float(ref["mean"]),
                live_mean=float(values.mean()) if values.size else float("nan"),
            )
        )
    score = sum(f.drifted for f in out) / len(out) if out else 0.0
    return tuple(out), score


def stored_reference(info: VersionInfo) -> ReferenceJSON:
    """The drift reference recorded with a version; NotFound when it has none."""
    reference = (info.metadata.get("extra") or {}).get("reference")
    if not isinstance(reference, dict) or reference.get("kind") != "feature-distribution":
        raise NotFound(
            f"model {info.model!r} version {info.version} has no drift reference in its metadata",
            location=Location(file=str(info.path / "metadata.json"), field="extra.reference"),
            hint="versions trained by `retrain train` record one; retrain the model to get a reference",
        )
    if not reference.get("features") or not isinstance(reference.get("rows"), int):
        raise InvalidInput(
            f"model {info.model!r} version {info.version}: the drift reference has no features",
            location=Location(file=str(info.path / "metadata.json"), field="extra.reference.features"),
        )
    typed: ReferenceJSON = reference  # type: ignore[assignment]
    return typed


def check_model(
    registry: Registry,
    model: str,
    *,
    version: int | None = None,
    hours: float = 24.0,
    source: str = "prometheus",
    settings: DataSettings | None = None,
    thresholds: Thresholds | None = None,
    end: datetime | None = None,
    environ: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> DriftReport:
    """Fetch the last `hours` of `model`'s inputs from `source` and compare them with the reference of
    `version` (default: the serving version)."""
    from retrain.data import builtin_contract, fetch
    from retrain.data.contracts import BUILTIN_MODELS
    from retrain.data.features import build_features

    thresholds = thresholds or Thresholds()
    if model not in BUILTIN_MODELS:
        raise InvalidInput(
            f"drift checks need the model's feature builder, and {model!r} is not a built-in model",
            location=Location(field="model"),
            hint="built-in models: " + ", ".join(BUILTIN_MODELS),
        )
    info = registry.get(model, version)
    reference = stored_reference(info)
    dataset = fetch(model, source, hours, settings, end=end, environ=environ)
    # The forecaster's rows need a target ahead; with the shortest horizon only the last point is left out.
    horizon = {"horizon_minutes": 5} if builtin_contract(model).horizon_minutes else {}
    features = build_features(model, dataset.frame, **horizon)
    names = features.contract.feature_names
    matrix = features.matrix()
    found, score = compare(reference, matrix, names, thresholds)
    missing = [n for n in names if n not in reference["features"]]
    notes: tuple[str, ...] = (
        (f"no reference for {len(missing)} feature(s): {', '.join(missing)}",) if missing else ()
    )
    if dataset.fallback_reason:
        notes += (f"data source fell back: {dataset.fallback_reason}",)
    return DriftReport(
        model=model,
        version=info.version,
        score=score,
        drifted=bool(found) and score >= thresholds.share,
        features=found,
        reference_rows=int(reference["rows"]),
        live_rows=int(matrix.shape[0]),
        thresholds=thresholds,
        checked_at=now or datetime.now(UTC),
        window={**dataset.info()},
        notes=notes,
    )
