"""Drift of a model: its recent inputs against the reference stored with the version it serves.

Per feature, against the training rows of *like periods* (`retrain.drift.periods`): PSI (bands 0.1 /
0.25) and the KS lower bound with its p-value (`retrain.drift.measures`), both with the effective sample
sizes of autocorrelated rows. A feature has drifted when its PSI reaches `psi` *and* PSI's own sampling
band at these effective sizes (`psi_limit`), or when the KS test is significant (p < `ks_alpha`) *and* its
effect is large (D >= `ks_statistic`). The model-level **drift score** is the share of its features that
drifted (0..1, as Evidently's "share of drifted columns"); the model has drifted when the score reaches
`share`.

Measured with `bench/drift_rates.py` (docs/drift.md has the table): on fresh synthetic data of the
training distribution (other seeds, like periods) the built-in models drift in under 5% of checks for 24,
168 and 720 h windows, and a 50% rise of every metric is found in every check. The six
`container_restart_count` level features (value, mean, min, max, lags) of the anomaly detector drift in
most checks (a cumulative counter's level is new in every window): 6 of 45 features, under `share`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from retrain.errors import InvalidInput, Location, NotFound

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

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
    psi_limit: float = 0.25  # the PSI this feature needed to drift (see `retrain.drift.periods`)
    live_effective_rows: float = 0.0
    unmatched_share: float = 0.0  # live rows in periods the reference lacks (compared with all of it)


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
    reference: ReferenceJSON,
    inputs: np.ndarray,
    names: Sequence[str],
    thresholds: Thresholds,
    times: pd.DatetimeIndex | None = None,
) -> tuple[tuple[FeatureDrift, ...], float]:
    """Each named column of `inputs` against its reference (of like periods when `times`, one per row, are
    given and the reference records periods); the features and the model's drift score."""
    import numpy as np

    from retrain.drift.measures import kolmogorov_pvalue, ks_statistic, psi, psi_band
    from retrain.drift.periods import like_periods, psi_limit
    from retrain.training.reference import SMOOTH_HOURS, effective_size, periods_of, rows_per_hour

    levels = reference["quantile_levels"]
    periods = periods_of(times) if times is not None else None
    smooth = SMOOTH_HOURS * rows_per_hour(times) if times is not None else 1
    out: list[FeatureDrift] = []
    for i, name in enumerate(names):
        ref = reference["features"].get(name)
        if ref is None:
            continue
        column = inputs[:, i]
        finite = np.isfinite(column)
        values = column[finite]
        unmatched = 0.0
        ref_n = float(ref.get("effective_count", ref["count"]))
        if periods is not None:
            ref, unmatched, ref_n = like_periods(ref, periods[finite])
        value = psi(ref, values)
        stat = ks_statistic(ref, levels if ref["quantiles"] else [], values)
        live_n = effective_size(values, smooth)
        pvalue = kolmogorov_pvalue(stat, max(1, round(ref_n)), max(1, round(live_n)))
        limit = psi_limit(len(ref["counts"]), live_n, ref_n, thresholds.psi)
        ks_drift = pvalue < thresholds.ks_alpha and stat >= thresholds.ks_statistic
        out.append(
            FeatureDrift(
                feature=name,
                psi=value,
                band=psi_band(value, thresholds.psi_moderate, thresholds.psi),
                ks_statistic=stat,
                ks_pvalue=pvalue,
                drifted=value >= limit or ks_drift,
                reference_mean=float(ref["mean"]),
                live_mean=float(values.mean()) if values.size else float("nan"),
                psi_limit=round(limit, 4),
                live_effective_rows=round(live_n, 1),
                unmatched_share=round(unmatched, 4),
            )
        )
    score = sum(f.drifted for f in out) / len(out) if out else 0.0
    return tuple(out), score


def frame_drift(
    model: str, reference: ReferenceJSON, frame: pd.DataFrame, thresholds: Thresholds
) -> tuple[tuple[FeatureDrift, ...], float, int]:
    """Built-in `model`'s features of a raw frame (as `retrain.data.fetch` returns it) against `reference`,
    by like periods; the features, the drift score and the number of live rows."""
    import pandas as pd

    from retrain.data import builtin_contract
    from retrain.data.features import build_features

    # The forecaster's rows need a target ahead; with the shortest horizon only the last point is left out.
    horizon = {"horizon_minutes": 5} if builtin_contract(model).horizon_minutes else {}
    features = build_features(model, frame, **horizon)
    index = features.inputs.index
    times = index if isinstance(index, pd.DatetimeIndex) else None
    matrix = features.matrix()
    found, score = compare(reference, matrix, features.contract.feature_names, thresholds, times)
    return found, score, int(matrix.shape[0])


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
    found, score, live_rows = frame_drift(model, reference, dataset.frame, thresholds)
    names = builtin_contract(model).feature_names
    missing = [n for n in names if n not in reference["features"]]
    notes: tuple[str, ...] = (
        (f"no reference for {len(missing)} feature(s): {', '.join(missing)}",) if missing else ()
    )
    if "periods" not in reference:
        notes += (
            "the reference records no periods (an older version): the live window is compared with the "
            "whole training window, so a window of other days or hours may drift without any change",
        )
    unmatched = max((f.unmatched_share for f in found), default=0.0)
    if unmatched > 0:
        notes += (
            f"{unmatched:.0%} of the live rows fall in periods (weekday/weekend, hour of the day) "
            "that the training window did not cover; they are compared with the whole reference",
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
        live_rows=live_rows,
        thresholds=thresholds,
        checked_at=now or datetime.now(UTC),
        window={**dataset.info()},
        notes=notes,
    )
