"""Held-out rows for the gate, built with the model's own feature function.

Built-in models: the rows the trainer held out of its training window (`retrain.training.heldout`, the
one owner of the training seed and of the held-out rows; `retrain verify` uses it too). They come from
the training distribution (the same hours and weekdays, the same counter levels) and the version never
saw them. Custom models have no feature builder here: their rows come from the training distribution
recorded with the version (`extra.reference` quantiles), which is enough to check the input width and the
shape and finiteness of the answers, but carries no labels or targets, so the quality check is skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from retrain.data.contracts import BUILTIN_MODELS, FeatureContract
from retrain.gate.thresholds import HoldoutConfig
from retrain.training.heldout import DEFAULT_TRAINING_SEED, training_seed

__all__ = ["DEFAULT_TRAINING_SEED", "Holdout", "build_holdout", "reference_rows", "training_seed"]


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
    from retrain.training.heldout import held_out

    rows = held_out(
        model,
        metadata,
        source=config.source,
        hours=config.hours,
        seed=config.seed,
        horizon_minutes=contract.horizon_minutes,
        end=end,
        environ=environ,
    )
    return Holdout(
        inputs=rows.inputs,
        labels=rows.labels,
        targets=rows.targets,
        target_names=rows.target_names,
        evaluator="forecast" if rows.targets is not None else "anomaly",
        description=rows.description,
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
