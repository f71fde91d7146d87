"""Held-out rows for the gate: fresh data the model never saw, built with the model's own feature function.

Built-in models: a window of `holdout.hours` ending now from `retrain.data.fetch` (synthetic with a seed
other than the training seed, or Prometheus / hybrid when configured), turned into rows by
`build_features`, exactly as in training. Custom models have no feature builder here: their rows come from
the training distribution recorded with the version (`extra.reference` quantiles), which is enough to
check the input width and the shape and finiteness of the answers, but carries no labels or targets, so
the quality check is skipped for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from retrain.data.contracts import BUILTIN_MODELS, FeatureContract
from retrain.gate.thresholds import SEED_OFFSET, HoldoutConfig

DEFAULT_TRAINING_SEED = 42


@dataclass(frozen=True)
class Holdout:
    inputs: np.ndarray  # (rows, width) float64
    labels: np.ndarray | None  # anomaly detector: 1/0, NaN where unlabelled
    targets: np.ndarray | None  # forecaster: (rows, target width)
    target_names: tuple[str, ...]
    evaluator: str | None  # "anomaly", "forecast" or None (no quality metrics)
    description: dict[str, Any]

    @property
    def rows(self) -> int:
        return int(self.inputs.shape[0])

    def save(self, directory: Path) -> dict[str, str]:
        """Write the arrays as .npy files for the probe processes; returns their paths by name."""
        directory.mkdir(parents=True, exist_ok=True)
        paths: dict[str, str] = {}
        arrays = {"inputs": self.inputs, "labels": self.labels, "targets": self.targets}
        for name, array in arrays.items():
            if array is not None:
                path = directory / f"holdout-{name}.npy"
                np.save(path, np.asarray(array, dtype=np.float64), allow_pickle=False)
                paths[name] = str(path)
        return paths


def training_seed(metadata: Mapping[str, Any]) -> int:
    """The synthetic seed the version was trained with (the notebook parameter), else the default."""
    params = (metadata.get("extra") or {}).get("notebook_parameters") or {}
    seed = params.get("seed")
    try:
        return int(seed) if seed is not None and not isinstance(seed, bool) else DEFAULT_TRAINING_SEED
    except (TypeError, ValueError):
        return DEFAULT_TRAINING_SEED


def build_holdout(
    model: str,
    contract: FeatureContract,
    config: HoldoutConfig,
    metadata: Mapping[str, Any],
    *,
    end: datetime,
    environ: Mapping[str, str],
) -> Holdout:
    if model in BUILTIN_MODELS:
        return _builtin(model, contract, config, metadata, end=end, environ=environ)
    return reference_rows(contract, metadata)


def _builtin(
    model: str,
    contract: FeatureContract,
    config: HoldoutConfig,
    metadata: Mapping[str, Any],
    *,
    end: datetime,
    environ: Mapping[str, str],
) -> Holdout:
    from retrain.data import DataSettings, SyntheticSettings, fetch
    from retrain.data.features import build_features

    trained_with = training_seed(metadata)
    seed = config.seed if config.seed is not None else trained_with + SEED_OFFSET
    base = DataSettings.from_env(environ)
    settings = DataSettings(
        base.prometheus, SyntheticSettings(seed=seed, anomaly_rate=base.synthetic.anomaly_rate)
    )
    dataset = fetch(model, config.source, config.hours, settings, end=end, environ=environ)
    horizon = contract.horizon_minutes
    features = (
        build_features(model, dataset.frame, horizon_minutes=horizon)
        if horizon is not None
        else build_features(model, dataset.frame)
    )
    labels = None
    if features.labels is not None:
        labels = features.labels.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    targets = None if features.targets is None else features.targets.to_numpy(dtype=np.float64)
    description: dict[str, Any] = {
        **dataset.info(),
        "seed": seed if config.source != "prometheus" else None,
        "training_seed": trained_with,
        "feature_rows": len(features.inputs),
    }
    if labels is not None:
        description["labelled_rows"] = int((~np.isnan(labels)).sum())
        description["anomalies"] = int(np.nansum(labels))
    return Holdout(
        inputs=features.matrix(),
        labels=labels,
        targets=targets,
        target_names=tuple(features.contract.target_names),
        evaluator="forecast" if targets is not None else "anomaly",
        description=description,
    )


def reference_rows(contract: FeatureContract, metadata: Mapping[str, Any]) -> Holdout:
    """One row per recorded quantile level of the training features (the median row when one is missing)."""
    reference = (metadata.get("extra") or {}).get("reference") or {}
    features = reference.get("features") or {}
    levels = reference.get("quantile_levels") or []
    columns: list[list[float]] = []
    for name in contract.feature_names:
        quantiles = (features.get(name) or {}).get("quantiles")
        if not isinstance(quantiles, list) or len(quantiles) != len(levels) or not levels:
            columns = []
            break
        columns.append([float(q) for q in quantiles])
    if columns:
        inputs = np.asarray(columns, dtype=np.float64).T
        origin = "training reference quantiles (extra.reference)"
    else:
        inputs = np.zeros((2, contract.width), dtype=np.float64)
        origin = "zeros: the version records no training reference"
    return Holdout(
        inputs=inputs,
        labels=None,
        targets=None,
        target_names=contract.target_names,
        evaluator=None,
        description={"data_source_effective": origin, "rows": int(inputs.shape[0])},
    )
