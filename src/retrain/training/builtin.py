"""The built-in models as `retrain train` sees them: their notebooks, default windows and minimum windows."""

from __future__ import annotations

import importlib.resources
import math
from pathlib import Path

import numpy as np

from retrain.data.contracts import (
    ANOMALY_DETECTOR,
    ANOMALY_GRID_S,
    BUILTIN_MODELS,
    FORECAST_GRID_S,
    PREDICTIVE_ANALYTICS,
    check_horizon,
    unknown_name,
)
from retrain.errors import InvalidInput, Location
from retrain.training.splits import MIN_TRAIN_ROWS, holdout_split

# The forecaster learns daily cycles: below a few days its holdout holds hours of the day it never saw.
DEFAULT_HOURS = {ANOMALY_DETECTOR: 24.0, PREDICTIVE_ANALYTICS: 168.0}
CUSTOM_DEFAULT_HOURS = 24.0


def builtin_notebook(model: str) -> Path:
    """The notebook shipped in the package for a built-in model."""
    if model not in BUILTIN_MODELS:
        raise unknown_name("built-in model", model, BUILTIN_MODELS, field="model-name")
    resource = importlib.resources.files("retrain.catalog") / "notebooks" / f"{model}.ipynb"
    return Path(str(resource))


def default_hours(model: str) -> float:
    return DEFAULT_HOURS.get(model, CUSTOM_DEFAULT_HOURS)


def grid_seconds(model: str) -> int:
    return FORECAST_GRID_S if model == PREDICTIVE_ANALYTICS else ANOMALY_GRID_S


def _train_rows(model: str, hours: float, horizon_minutes: int) -> int:
    """Training rows a window of `hours` gives (the trainers' own splits, on one data-source run)."""
    rows = int(hours * 3600 // grid_seconds(model))
    steps = horizon_minutes * 60 // FORECAST_GRID_S if model == PREDICTIVE_ANALYTICS else 0
    rows = max(0, rows - steps)  # the forecaster's last `steps` rows have no target
    return holdout_split(model, np.zeros(rows, dtype=np.int64)).train_rows


def check_window(model: str, hours: float, horizon_minutes: int) -> None:
    """Refuse a window too short for a built-in model to train and still hold some rows out."""
    if model not in BUILTIN_MODELS:
        return
    if model == PREDICTIVE_ANALYTICS:
        check_horizon(horizon_minutes)
    if _train_rows(model, hours, horizon_minutes) >= MIN_TRAIN_ROWS:
        return
    step_h = grid_seconds(model) / 3600
    needed = hours
    while _train_rows(model, needed, horizon_minutes) < MIN_TRAIN_ROWS:
        needed += step_h
    raise InvalidInput(
        f"a training window of {hours:g} h is too short for {model}: it needs at least {MIN_TRAIN_ROWS} "
        f"training rows besides its holdout, that is at least {math.ceil(needed)} h",
        location=Location(field="training-hours"),
        hint=f"give --hours {math.ceil(needed)} or more (the default is {default_hours(model):g})",
    )
