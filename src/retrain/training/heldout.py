"""What a version was trained on, and the rows it held out: the one owner for the gate and `retrain verify`.

`training_seed(metadata)` is the synthetic seed a version was trained with (its notebook parameter), the
only parser of it. `training_window(metadata)` is the recorded window (source, hours, end, seed, anomaly
rate). `held_out(...)` re-fetches that window and returns the feature rows that the trainer held out
(`retrain.training.splits.holdout_split`): rows the version never saw, from the same distribution it was
trained on (the same hours of the day, the same days of the week, the same counter levels). With the
synthetic source and the training seed the frame is identical to the training frame (the generator is
seeded), so these are exactly the rows the trainer evaluated on; the gate recomputes the metrics itself.

Another `seed` or `hours` may be asked for (a gate thresholds file): the window still ends where the
training window ended and the rows are still its held-out blocks, but the data is then other data.
Versions that record no window (older or custom ones) get `hours` (default 72) ending at `end`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

DEFAULT_TRAINING_SEED = 42
DEFAULT_HOURS = 72.0  # only for versions that record no training window


def training_seed(metadata: Mapping[str, Any]) -> int:
    """The synthetic seed the version was trained with (the `seed` notebook parameter), else 42.

    An int, or a string of digits (papermill `-p seed 7` may record either); anything else (a bool, a
    float, text) is not a seed and gives the default."""
    params = (metadata.get("extra") or {}).get("notebook_parameters") or {}
    seed = params.get("seed")
    if isinstance(seed, int) and not isinstance(seed, bool):
        return seed
    if isinstance(seed, str) and seed.strip().isdigit():
        return int(seed.strip())
    return DEFAULT_TRAINING_SEED


@dataclass(frozen=True)
class TrainingWindow:
    source: str | None  # the effective data source (None: not recorded)
    hours: float | None
    end: datetime | None
    seed: int
    anomaly_rate: float | None


def training_window(metadata: Mapping[str, Any]) -> TrainingWindow:
    window = metadata.get("training_window") or {}
    params = (metadata.get("extra") or {}).get("notebook_parameters") or {}
    hours = window.get("hours")
    end = window.get("end")
    rate = params.get("anomaly_rate")
    source = metadata.get("data_source_effective")
    return TrainingWindow(
        source=source if source in ("synthetic", "prometheus", "hybrid") else None,
        hours=float(hours) if isinstance(hours, int | float) and hours > 0 else None,
        end=_moment(end) if isinstance(end, str) else None,
        seed=training_seed(metadata),
        anomaly_rate=float(rate) if isinstance(rate, int | float) and not isinstance(rate, bool) else None,
    )


def _moment(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class HeldOut:
    inputs: np.ndarray  # (rows, width) float64
    labels: np.ndarray | None  # anomaly detector: 1/0, NaN where unlabelled
    targets: np.ndarray | None  # forecaster: (rows, target width)
    target_names: tuple[str, ...]
    description: dict[str, Any]


def held_out(
    model: str,
    metadata: Mapping[str, Any],
    *,
    source: str | None = None,
    hours: float | None = None,
    seed: int | None = None,
    horizon_minutes: int | None = None,
    end: datetime | None = None,
    environ: Mapping[str, str] | None = None,
) -> HeldOut:
    """The held-out rows of built-in `model`'s training window (see the module docstring).

    `source`, `hours`, `seed`: None means what the version was trained on (source: synthetic when not
    recorded). `end`: where the window ends when the version records none (default now)."""
    from retrain.data import DataSettings, SyntheticSettings, fetch
    from retrain.data.features import build_features
    from retrain.training.splits import holdout_split, run_ids

    trained = training_window(metadata)
    source = source or trained.source or "synthetic"
    window_hours = hours or trained.hours or DEFAULT_HOURS
    stop = trained.end or end or datetime.now(UTC)
    data_seed = trained.seed if seed is None else seed
    base = DataSettings.from_env(environ or {})
    rate = trained.anomaly_rate if trained.anomaly_rate is not None else base.synthetic.anomaly_rate
    settings = DataSettings(base.prometheus, SyntheticSettings(seed=data_seed, anomaly_rate=rate))
    dataset = fetch(model, source, window_hours, settings, end=stop, environ=environ)
    kwargs = {"horizon_minutes": horizon_minutes} if horizon_minutes else {}
    features = build_features(model, dataset.frame, **kwargs)
    frame = dataset.frame
    runs = run_ids(
        frame["source"].reindex(features.inputs.index) if "source" in frame.columns else None,
        len(features.inputs),
    )
    split = holdout_split(model, runs)
    labels = None
    if features.labels is not None:
        from retrain.training.anomaly import scoring_labels

        every = features.labels.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
        labels = scoring_labels(every)[split.test]
    targets = None if features.targets is None else features.targets.to_numpy(dtype=np.float64)[split.test]
    description: dict[str, Any] = {
        **dataset.info(),
        "rows_selected": "the training window's held-out blocks (retrain.training.splits.holdout_split)",
        "seed": data_seed if dataset.source_effective != "prometheus" else None,
        "training_seed": trained.seed,
        "same_data_as_training": data_seed == trained.seed
        and window_hours == trained.hours
        and source == trained.source,
        "window_rows": dataset.rows,
        "rows": split.test_rows,
    }
    if labels is not None:
        description["labelled_rows"] = int((~np.isnan(labels)).sum())
        description["anomalies"] = int(np.nansum(labels))
    return HeldOut(
        inputs=features.matrix()[split.test],
        labels=labels,
        targets=targets,
        target_names=tuple(features.contract.target_names),
        description=description,
    )
