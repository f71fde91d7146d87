"""Train/holdout splits that respect time, and the one owner of which rows a built-in model holds out.

`holdout_split(model, runs)` is the split of both built-in trainers *and* of the gate and `retrain verify`
(through `retrain.training.heldout`): the gate re-fetches the training window and judges the candidate on
exactly the rows the trainer held out, so the held-out rows always come from the training distribution.

It is `interleaved_holdout`: per contiguous data-source run (a hybrid frame is two), blocks of consecutive
rows are numbered from the run's start and one block of each cycle of `every` blocks (the 3rd) is held
out, never a run's first or last block. Why interleaved and not the latest hours: a 24 h window held out at
its end tests on hours of the day (or a day of the week) the model never saw; the anomaly detector then
flagged 20-40% of those rows and the forecaster extrapolated. Why never the edge blocks:
`container_restart_count` is a cumulative counter, so its level is a clock; an edge block lies beyond every
level seen in training and was flagged almost entirely (50 of 59 rows in trials).

- anomaly detector: 15 minutes of every hour (blocks of 15 one-minute rows, every 4th: 25%);
- forecaster: 30 minutes of every 2.5 hours (blocks of 6 five-minute rows, every 5th: 20%); its 24 h
  window then holds out 9 half-hours spread over the day instead of 4 whole hours, and the skill measured
  on them stopped swinging between -0.1 and +0.2 from one window to the next.

The cycle must not divide a day into the same hours: hourly blocks every 4th held out the same six hours of
every day, so training never saw the 13:00 business peak and the gate flagged those whole hours (12% of the
held-out rows at 720 h). No gap separates the forecaster's blocks: its training targets then include
held-out *inputs* (the value an hour after a training row), never held-out targets, and its linear model of
30 coefficients cannot memorise neighbouring rows; a gap of one horizon before each short block would have
left a third of the rows for training. A flexible custom model might exploit neighbouring rows of
autocorrelated real data; judge those on a later window too. The anomaly detector's trailing 5-minute
windows reach 4 rows back into the neighbouring block; it never sees labels, so no gap is needed there.

`time_holdout` and `blocked_holdout` are the older, simpler splits, kept for custom notebooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from retrain.data.contracts import ANOMALY_DETECTOR, PREDICTIVE_ANALYTICS
from retrain.errors import InvalidInput, Location

if TYPE_CHECKING:
    import pandas as pd

MIN_TRAIN_ROWS = 30
HOLDOUT_EVERY = 4
# (rows per block, blocks per cycle) of the built-in models (see the module docstring).
HOLDOUT_PLANS: dict[str, tuple[int, int]] = {ANOMALY_DETECTOR: (15, 4), PREDICTIVE_ANALYTICS: (6, 5)}


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


def interleaved_holdout(runs: np.ndarray, *, block: int, every: int = HOLDOUT_EVERY, gap: int = 0) -> Split:
    """Per run, block k (counted from the run's start) is held out when k % every == every // 2, except the
    run's first and last block; `gap` rows before each held-out block are in neither part."""
    if block < 1 or every < 2 or gap < 0:
        raise InvalidInput(
            f"an interleaved holdout needs block >= 1, every >= 2 and gap >= 0, got {block}, {every}, {gap}",
            location=Location(field="holdout"),
        )
    train = np.zeros(len(runs), dtype=bool)
    test = np.zeros(len(runs), dtype=bool)
    for run in np.unique(runs):
        where = np.flatnonzero(runs == run)
        blocks = np.arange(len(where)) // block
        held = (blocks % every == every // 2) & (blocks > 0) & (blocks < blocks[-1])
        test[where[held]] = True
        excluded = held.copy()
        for start in np.flatnonzero(held & ~np.concatenate(([False], held[:-1]))):
            excluded[max(0, start - gap) : start] = True
        train[where[~excluded]] = True
    return Split(train, test)


def holdout_split(model: str, runs: np.ndarray) -> Split:
    """The split of a built-in model's feature rows (`runs`: `run_ids` of them); see the module docstring."""
    block, every = HOLDOUT_PLANS[model]
    return interleaved_holdout(runs, block=block, every=every)


def check_rows(rows: int, *, model: str, minimum: int = MIN_TRAIN_ROWS) -> None:
    if rows < minimum:
        raise InvalidInput(
            f"{model}: only {rows} training rows after the holdout split, at least {minimum} are needed",
            location=Location(field="training-hours"),
            hint="give a longer training window (--hours), for example 24",
        )
