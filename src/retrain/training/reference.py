"""A compact picture of each feature's training distribution, stored with the model for drift checks.

Per feature: count, mean, std, min, max, the values at `QUANTILE_LEVELS`, and a histogram whose bin edges
are the training deciles (so each bin holds about a tenth of the training rows; the population stability
index and a chi-square test compare live counts in the same bins). Edges that coincide (a feature with few
distinct values) are merged, so a constant feature has one bin. Values are rounded to 8 significant digits
to keep `metadata.json` small; the counts are recomputed with the rounded edges so they stay consistent.

With the rows' timestamps, each feature also records its counts per *period* (weekday or weekend, times
the hour of the day in UTC: `wd00`..`wd23`, `we00`..`we23`), so a drift check can compare a live window with
the training rows of like periods (a Sunday with the weekend rows, not with a week), and its effective
sample size (`effective_count`, see `effective_size`), because rows a minute apart are not independent
draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NotRequired, TypedDict

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

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
    effective_count: NotRequired[float]  # rows / AR(1) variance inflation (see `effective_size`)
    periods: NotRequired[dict[str, list[int]]]  # period -> rows per bin (same bins), see `periods_of`


class ReferenceJSON(TypedDict):
    schema: int
    kind: str  # "feature-distribution"
    rows: int
    quantile_levels: list[float]
    features: dict[str, FeatureReference]
    periods: NotRequired[str]  # PERIODS_SCHEME when the features record counts per period


PERIODS_SCHEME = "weekday/weekend x hour of the day (UTC)"
# The moving average whose deviations give the effective sample size: long enough to keep slow
# deviations from the cycle (a memory sawtooth of 2-6 h, random in phase, that like periods do not
# match), short enough to remove most of the daily cycle (which like periods do match).
SMOOTH_HOURS = 6


def periods_of(times: pd.DatetimeIndex) -> np.ndarray:
    """The period of each timestamp: `wd` or `we` (Saturday, Sunday) and the hour of the day, 00-23.

    Hours, not coarser parts of the day: a live window that starts inside a period sees only part of
    it, and with six-hour periods a window starting at 16:13 was compared with a 12:00-18:00 that held
    the 13:30 peak (every feature of the forecaster "drifted" by an empty top bin)."""
    utc = times.tz_convert("UTC") if times.tz is not None else times
    kind = np.where(np.asarray(utc.day_of_week) >= 5, "we", "wd")
    return np.char.add(kind, np.char.zfill(np.asarray(utc.hour).astype(str), 2))


def effective_size(values: np.ndarray, smooth: int = 1) -> float:
    """`n (1 - r) / (1 + r)`: the number of independent rows that carry as much information as `n` rows of
    an AR(1) series with lag-1 autocorrelation r (Wilks, Statistical Methods in the Atmospheric Sciences,
    5.2.4); r is clipped to [0, 0.999], so the result is between n/2000 and n (at least 1).

    With `smooth` > 1, r is that of the values minus their centred moving average over `smooth` rows
    (SMOOTH_HOURS of them where the reference and the drift check use it):
    the daily and weekly cycles are compared period by period (like periods), so what limits the
    information is how long a deviation *from the cycle* lasts, not the cycle itself (whose lag-1
    autocorrelation is close to 1 and would leave two or three "independent" rows in a day)."""
    n = values.size
    if n < 3:
        return float(n)
    x = values.astype(np.float64)
    if smooth > 1 and n > smooth:
        kernel = np.ones(smooth)
        x = x - np.convolve(x, kernel, mode="same") / np.convolve(np.ones(n), kernel, mode="same")
    centred = x - x.mean()
    denominator = float(np.dot(centred, centred))
    r = float(np.dot(centred[:-1], centred[1:])) / denominator if denominator > 0 else 0.0
    r = min(max(r, 0.0), 0.999)
    return max(1.0, n * (1 - r) / (1 + r))


def rows_per_hour(times: pd.DatetimeIndex) -> int:
    """How many rows an hour holds on the grid of `times` (1 when it cannot be told)."""
    if len(times) < 2:
        return 1
    step = float(np.median(np.diff(times.to_numpy()) / np.timedelta64(1, "s")))
    return max(1, round(3600 / step)) if step > 0 else 1


def _round(values: np.ndarray) -> list[float]:
    return [float(f"{v:.8g}") for v in values.tolist()]


def feature_reference(
    column: np.ndarray, periods: np.ndarray | None = None, smooth: int = 1
) -> FeatureReference:
    finite = np.isfinite(column)
    values = column[finite].astype(np.float64)
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
    by_period: dict[str, list[int]] = {}
    if periods is not None:
        kept = periods[finite]
        for period in sorted(set(kept.tolist())):
            part = values[kept == period]
            if edges.size == 1:
                by_period[period] = [int(part.size)]
            else:
                by_period[period] = (
                    np.histogram(np.clip(part, edges[0], edges[-1]), bins=edges)[0].astype(int).tolist()
                )
    out: FeatureReference = {
        "count": int(values.size),
        "mean": float(f"{values.mean():.8g}"),
        "std": float(f"{values.std(ddof=1) if values.size > 1 else 0.0:.8g}"),
        "min": float(f"{values.min():.8g}"),
        "max": float(f"{values.max():.8g}"),
        "quantiles": _round(np.quantile(values, QUANTILE_LEVELS)),
        "bin_edges": [float(e) for e in edge_list],
        "counts": counts,
        "effective_count": round(effective_size(values, smooth), 2),
    }
    if periods is not None:
        out["periods"] = by_period
    return out


def distribution_reference(
    matrix: np.ndarray, names: Sequence[str], times: pd.Index | None = None
) -> ReferenceJSON:
    """The reference of every column of `matrix` (rows x len(names)); per period too when `times` (one
    timestamp per row, a DatetimeIndex) are given."""
    if matrix.ndim != 2 or matrix.shape[1] != len(names):
        raise ValueError(f"matrix of shape {matrix.shape} does not have {len(names)} columns")
    periods, smooth = None, 1
    if times is not None:
        import pandas as pd

        if len(times) != matrix.shape[0] or not isinstance(times, pd.DatetimeIndex):
            raise ValueError(f"{len(times)} timestamps ({type(times).__name__}) for {matrix.shape[0]} rows")
        periods = periods_of(times)
        smooth = SMOOTH_HOURS * rows_per_hour(times)
    out: ReferenceJSON = {
        "schema": REFERENCE_SCHEMA,
        "kind": "feature-distribution",
        "rows": int(matrix.shape[0]),
        "quantile_levels": list(QUANTILE_LEVELS),
        "features": {name: feature_reference(matrix[:, i], periods, smooth) for i, name in enumerate(names)},
    }
    if periods is not None:
        out["periods"] = PERIODS_SCHEME
    return out
