"""Train/holdout splits that respect time.

- `time_holdout` (the forecaster): the *latest* rows of every contiguous data-source run are held out, so
  the model is judged on a future it has not seen. A hybrid frame is two runs (synthetic, then Prometheus),
  each split on its own. `gap` rows before each holdout are dropped from training (the forecaster's
  targets look `horizon` steps ahead; without the gap the last training rows would have holdout targets).
- `blocked_holdout` (the anomaly detector): every `every`-th block of `block` consecutive rows is held
  out (hourly blocks, every 4th: 25%). Its holdout covers every hour of the day that training covers, so
  it measures the detector, not the edge of the window: with a 24 h window a time-ordered holdout tests on
  hours of the day the detector never saw and flags most of them. Windows are trailing (5 rows), so a
  block's features barely reach into its neighbours, and the detector never sees labels anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from retrain.errors import InvalidInput, Location

if TYPE_CHECKING:
    import pandas as pd

MIN_TRAIN_ROWS = 30


@dataclass(frozen=True)
class Split:
    train: np.ndarray  # boolean masks over the rows
    test: np.ndarray

    @property
    def train_rows(self) -> int:
        return int(self.train.sum())

    @property
    def test_rows(self) -> int:
        return int(self.test.sum())


def run_ids(source: pd.Series | None, rows: int) -> np.ndarray:
    """An id per row that changes wherever the `source` column changes (all zeros without one)."""
    if source is None:
        return np.zeros(rows, dtype=np.int64)
    values = source.astype(str).to_numpy()
    changes = np.concatenate(([0], (values[1:] != values[:-1]).astype(np.int64)))
    return np.cumsum(changes)


def time_holdout(runs: np.ndarray, fraction: float, *, gap: int = 0) -> Split:
    """The last `fraction` of every run is holdout; `gap` rows before it are in neither part."""
    if not 0 < fraction < 1:
        raise InvalidInput(
            f"holdout fraction must be between 0 and 1, got {fraction}",
            location=Location(field="holdout_fraction"),
        )
    train = np.zeros(len(runs), dtype=bool)
    test = np.zeros(len(runs), dtype=bool)
    for run in np.unique(runs):
        where = np.flatnonzero(runs == run)
        n_test = round(len(where) * fraction)
        if n_test == 0 or len(where) - n_test - gap <= 0:
            train[where] = True  # too short to split: all of it trains
            continue
        test[where[len(where) - n_test :]] = True
        train[where[: len(where) - n_test - gap]] = True
    return Split(train, test)


def blocked_holdout(rows: int, *, block: int, every: int) -> Split:
    """Rows in every `every`-th block of `block` rows (the last block of each cycle) are holdout."""
    if block < 1 or every < 2:
        raise InvalidInput(
            f"a blocked holdout needs block >= 1 and every >= 2, got {block} and {every}",
            location=Location(field="holdout"),
        )
    test = (np.arange(rows) // block) % every == every - 1
    return Split(~test, test)


def check_rows(rows: int, *, model: str, minimum: int = MIN_TRAIN_ROWS) -> None:
    if rows < minimum:
        raise InvalidInput(
            f"{model}: only {rows} training rows after the holdout split, at least {minimum} are needed",
            location=Location(field="training-hours"),
            hint="give a longer training window (--hours), for example 24",
        )
