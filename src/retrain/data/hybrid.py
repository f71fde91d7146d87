"""The `hybrid` source: Prometheus rows plus as many synthetic rows; synthetic alone, loudly, as a fallback.

The synthetic half covers the same number of grid points immediately before the Prometheus window, so the
frame's index stays regular and increasing; the `source` column tells the halves apart and the feature
builders never let a rolling window or a lag reach across that seam.

Only an unreachable Prometheus (a TemporaryError after the retries) falls back to synthetic data. A refused
query, a bad token or a metric without data is a configuration error and is raised as it is: silently
training on synthetic data because of a typo would hide the typo.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from retrain.data.contracts import builtin_contract
from retrain.data.promapi import PrometheusClient
from retrain.data.prometheus import prometheus_frame
from retrain.data.settings import DataSettings
from retrain.data.synthetic import synthetic_frame
from retrain.errors import TemporaryError

log = logging.getLogger("retrain.data")


@dataclass(frozen=True)
class HybridResult:
    frame: pd.DataFrame
    effective: str  # "hybrid", or "synthetic" after a fallback
    fallback_reason: str | None


def synthetic_window(model: str, hours: float, end: datetime, settings: DataSettings) -> pd.DataFrame:
    """Synthetic rows for the grid points in (end - hours, end], `end` aligned down to the grid."""
    grid = builtin_contract(model).grid_seconds
    stop = datetime.fromtimestamp(end.timestamp() // grid * grid, end.tzinfo)
    periods = max(1, int(hours * 3600 // grid))
    return synthetic_frame(model, stop - timedelta(seconds=grid * (periods - 1)), periods, settings.synthetic)


def hybrid_frame(
    model: str,
    hours: float,
    end: datetime,
    settings: DataSettings,
    client_factory: Callable[[], PrometheusClient],
) -> HybridResult:
    try:
        with client_factory() as client:
            real = prometheus_frame(model, hours, end, client)
    except TemporaryError as exc:
        reason = f"Prometheus unreachable, trained on synthetic data only: {exc.message}"
        log.warning("data source hybrid fell back to synthetic for %s: %s", model, exc.message)
        return HybridResult(synthetic_window(model, hours, end, settings), "synthetic", reason)
    grid = pd.Timedelta(seconds=builtin_contract(model).grid_seconds)
    first = real.index[0]
    start = (first - grid * len(real)).to_pydatetime()
    fake = synthetic_frame(model, start, len(real), settings.synthetic)
    return HybridResult(pd.concat([fake, real]), "hybrid", None)
