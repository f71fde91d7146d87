"""Drift checks' false-alarm and detection rates on the built-in models' synthetic data.

    .venv/bin/python bench/drift_rates.py [--seeds 20] [--windows 24 168 720] [--models ...]

For each model, training window W and seed s: the built-in trainer runs on W hours of synthetic data
(seed s; the windows end at staggered times, so they start on different weekdays and hours), and its drift
reference (what `retrain train` stores with the version) is checked against three live windows of fresh
data (seed s + 10000, never the training noise), with the default thresholds:

- "same period": W hours over the training window's own period: data of the training distribution;
- "last 24 h": the last 24 h of that period (what `retrain drift check --hours 24` sees right after
  training): like periods of the training distribution, a slice of it;
- "shift": the same period with every raw metric 1.5 times higher (a 50% rise in load).

Printed: the share of checks that report DRIFTED in each case (false alarms for the first two, detection
for the third), and the mean drift score. docs/drift.md quotes the table.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from retrain.data import DataSettings, SyntheticSettings, fetch
from retrain.data.contracts import ANOMALY_DETECTOR, BUILTIN_MODELS, raw_metrics
from retrain.drift.check import Thresholds, frame_drift
from retrain.training import anomaly, forecast

BASE_END = datetime(2025, 3, 5, 7, tzinfo=UTC)
STAGGER = timedelta(hours=13, minutes=7)  # seed s's window ends s x this after BASE_END
LIVE_SEED_OFFSET = 10_000
SHIFT = 1.5
RATIOS = ("node_cpu_utilization", "node_memory_utilization", "cpu_usage", "memory_usage", "disk_usage")


def shifted(model: str, frame: pd.DataFrame, factor: float = SHIFT) -> pd.DataFrame:
    """Every raw metric `factor` times higher (utilisation ratios capped at 1)."""
    out = frame.copy()
    for name in raw_metrics(model):
        out[name] = out[name] * factor
        if name in RATIOS:
            out[name] = out[name].clip(upper=1.0)
    return out


def window(model: str, hours: float, end: datetime, seed: int) -> pd.DataFrame:
    settings = DataSettings(synthetic=SyntheticSettings(seed=seed))
    return fetch(model, "synthetic", hours, settings, end=end).frame


def one_seed(model: str, hours: float, seed: int, thresholds: Thresholds) -> dict[str, float]:
    end = BASE_END + seed * STAGGER
    dataset = fetch(model, "synthetic", hours, DataSettings(synthetic=SyntheticSettings(seed=seed)), end=end)
    trainer = anomaly if model == ANOMALY_DETECTOR else forecast
    reference = trainer.train_and_evaluate(dataset).reference
    live = window(model, hours, end, seed + LIVE_SEED_OFFSET)
    last_day = window(model, 24, end, seed + LIVE_SEED_OFFSET)
    return {
        "same": frame_drift(model, reference, live, thresholds)[1],
        "last24": frame_drift(model, reference, last_day, thresholds)[1],
        "shift": frame_drift(model, reference, shifted(model, live), thresholds)[1],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--windows", type=float, nargs="+", default=[24.0, 168.0, 720.0])
    parser.add_argument("--models", nargs="+", default=list(BUILTIN_MODELS), choices=BUILTIN_MODELS)
    args = parser.parse_args(argv)
    thresholds = Thresholds()
    print(f"{args.seeds} seeds a row; DRIFTED at a drift score >= {thresholds.share:g}; shift: x{SHIFT}")
    header = (
        f"{'model':<22}{'window':>7}  {'false alarms':>12} {'(score)':>8}  {'last 24 h':>9} {'(score)':>8}"
        f"  {'detected':>8} {'(score)':>8}  {'seconds':>7}"
    )
    print(header)
    print("-" * len(header))
    for model in args.models:
        for hours in args.windows:
            started = time.perf_counter()
            rows: list[dict[str, Any]] = [one_seed(model, hours, s, thresholds) for s in range(args.seeds)]
            rate = {k: np.mean([r[k] >= thresholds.share for r in rows]) for k in ("same", "last24", "shift")}
            mean = {k: np.mean([r[k] for r in rows]) for k in ("same", "last24", "shift")}
            print(
                f"{model:<22}{hours:>6g}h  {rate['same']:>12.0%} {mean['same']:>8.2f}  "
                f"{rate['last24']:>9.0%} {mean['last24']:>8.2f}  {rate['shift']:>8.0%} {mean['shift']:>8.2f}"
                f"  {time.perf_counter() - started:>7.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
