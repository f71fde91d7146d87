"""A compact picture of each feature's training distribution, stored with the model for drift checks.

Per feature: count, mean, std, min, max, the values at `QUANTILE_LEVELS`, and a histogram whose bin edges
are the training deciles (so each bin holds about a tenth of the training rows; the population stability
index and a chi-square test compare live counts in the same bins). Edges that coincide (a feature with few
distinct values) are merged, so a constant feature has one bin. Values are rounded to 8 significant digits
to keep `metadata.json` small; the counts are recomputed with the rounded edges so they stay consistent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import numpy as np

REFERENCE_SCHEMA = 1
QUANTILE_LEVELS: tuple[float, ...] = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)
DECILES: tuple[float, ...] = tuple(i / 10 for i in range(11))


class FeatureReference(TypedDict):
    count: int
    mean: float
    std: float
    min: float
    max: float
    quantiles: list[float]  # at ReferenceJSON.quantile_levels
    bin_edges: list[float]  # ascending; len(counts) + 1 values (the first and last are min and max)
    counts: list[int]  # rows per bin; the last bin includes its right edge


class ReferenceJSON(TypedDict):
    schema: int
    kind: str  # "feature-distribution"
    rows: int
    quantile_levels: list[float]
    features: dict[str, FeatureReference]


def _round(values: np.ndarray) -> list[float]:
    return [float(f"{v:.8g}") for v in values.tolist()]


def feature_reference(column: np.ndarray) -> FeatureReference:
    values = column[np.isfinite(column)].astype(np.float64)
    if values.size == 0:
        return {
            "count": 0, "mean": 0.0, "std": 0.0, "min": 0.0, "max": 0.0,
            "quantiles": [], "bin_edges": [], "counts": [],
        }  # fmt: skip
    edges = np.unique(np.asarray(_round(np.quantile(values, DECILES)), dtype=np.float64))
    if edges.size == 1:
        counts = [int(values.size)]
        edge_list = [float(edges[0]), float(edges[0])]
    else:
        # Rounding may leave a value just outside the outer edges: clip so every row is counted.
        clipped = np.clip(values, edges[0], edges[-1])
        counts = np.histogram(clipped, bins=edges)[0].astype(int).tolist()
        edge_list = edges.tolist()
    return {
        "count": int(values.size),
        "mean": float(f"{values.mean():.8g}"),
        "std": float(f"{values.std(ddof=1) if values.size > 1 else 0.0:.8g}"),
        "min": float(f"{values.min():.8g}"),
        "max": float(f"{values.max():.8g}"),
        "quantiles": _round(np.quantile(values, QUANTILE_LEVELS)),
        "bin_edges": [float(e) for e in edge_list],
        "counts": counts,
    }


def distribution_reference(matrix: np.ndarray, names: Sequence[str]) -> ReferenceJSON:
    """The reference of every column of `matrix` (rows x len(names))."""
    if matrix.ndim != 2 or matrix.shape[1] != len(names):
        raise ValueError(f"matrix of shape {matrix.shape} does not have {len(names)} columns")
    return {
        "schema": REFERENCE_SCHEMA,
        "kind": "feature-distribution",
        "rows": int(matrix.shape[0]),
        "quantile_levels": list(QUANTILE_LEVELS),
        "features": {name: feature_reference(matrix[:, i]) for i, name in enumerate(names)},
    }
