"""Handing the fetched data to a built-in notebook, and fetching it there when the notebook runs alone.

`retrain train` fetches the data itself (so a data-source error is reported before any notebook runs, with
its own exit code, and the progress display can show the fetch) and passes the notebook a pickled
`Dataset` through the `data_path` parameter. Opened in Jupyter with `data_path = ""`, the same notebook
fetches the data itself from the contract's environment variables and parameters.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
from collections.abc import Mapping
from pathlib import Path

from retrain.data.settings import DataSettings, SyntheticSettings
from retrain.data.sources import Dataset, fetch
from retrain.errors import InvalidInput, Location


def data_settings(
    environ: Mapping[str, str],
    *,
    prometheus_url: str | None = None,
    anomaly_rate: float | None = None,
    seed: int | None = None,
) -> DataSettings:
    """The contract's environment (PROMETHEUS_*, ANOMALY_RATE, SYNTHETIC_SEED), overridden by arguments."""
    base = DataSettings.from_env(environ)
    prometheus = base.prometheus
    if prometheus_url:
        prometheus = dataclasses.replace(prometheus, url=prometheus_url)
    synthetic = SyntheticSettings(
        seed=base.synthetic.seed if seed is None else seed,
        anomaly_rate=base.synthetic.anomaly_rate if anomaly_rate is None else anomaly_rate,
    )
    return DataSettings(prometheus, synthetic)


def dump_dataset(dataset: Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        pickle.dump(dataset, out, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def load_dataset(path: str | Path) -> Dataset:
    """A Dataset written by `dump_dataset` (in the run's own work directory, by this same run)."""
    with Path(path).open("rb") as source:
        dataset = pickle.load(source)  # noqa: S301 - our own file, written moments ago by `retrain train`
    if not isinstance(dataset, Dataset):
        raise InvalidInput(
            f"{path} does not hold a retrain Dataset (found {type(dataset).__name__})",
            location=Location(file=str(path), field="data_path"),
            hint="leave data_path empty to fetch the data in the notebook",
        )
    return dataset


def load_or_fetch(
    model: str,
    data_source: str,
    training_hours: float,
    *,
    data_path: str = "",
    anomaly_rate: float | None = None,
    seed: int | None = None,
    prometheus_url: str = "",
) -> Dataset:
    """The notebook's data: the handed-over file when `data_path` is set, else a fresh fetch."""
    if data_path:
        return load_dataset(data_path)
    settings = data_settings(os.environ, prometheus_url=prometheus_url, anomaly_rate=anomaly_rate, seed=seed)
    return fetch(model, data_source, training_hours, settings)
