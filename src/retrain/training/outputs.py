"""What a trainer produces and how a notebook hands it to `retrain train` through MODEL_DIR.

The notebook contract (DESIGN.md): a notebook writes `model.pkl` (joblib) into `MODEL_DIR` and may write
`metrics.json`. The built-in notebooks also write `training.json` (trainer name, feature contract, drift
reference, data and row counts); a custom notebook may write it too, with any subset of its keys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from retrain.data.contracts import ContractJSON, FeatureContract
from retrain.data.sources import DatasetInfo
from retrain.training.reference import ReferenceJSON

ARTEFACT = "model.pkl"
METRICS = "metrics.json"
TRAINING = "training.json"
TRAINING_SCHEMA = 1


class TrainingJSON(TypedDict):
    """`training.json` in MODEL_DIR: everything about a training run except the model and its metrics."""

    schema: int
    trainer: NotRequired[str]
    feature_contract: NotRequired[ContractJSON]
    reference: NotRequired[ReferenceJSON]
    data: NotRequired[DatasetInfo | None]
    rows: NotRequired[dict[str, int]]


@dataclass(frozen=True)
class TrainResult:
    """A trained and evaluated built-in model."""

    model: Any  # picklable; predict(X) on a 2-D array of contract.width columns
    trainer: str  # e.g. "sklearn:RobustScaler+IsolationForest"
    contract: FeatureContract
    metrics: dict[str, Any]
    reference: ReferenceJSON  # training-split feature distribution, for drift checks
    rows: dict[str, int]  # total / train / test
    data: DatasetInfo | None = None

    def training_json(self) -> TrainingJSON:
        return {
            "schema": TRAINING_SCHEMA,
            "trainer": self.trainer,
            "feature_contract": self.contract.to_json(),
            "reference": self.reference,
            "data": self.data,
            "rows": dict(self.rows),
        }


def write_json(path: Path, value: Any) -> None:
    """Write JSON via a temp file and a rename, so a reader never sees half a file."""
    scratch = path.with_name(f".{path.name}.tmp")
    scratch.write_text(json.dumps(value, indent=2, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8")
    scratch.replace(path)


def save_outputs(result: TrainResult, model_dir: str | Path) -> Path:
    """Write model.pkl, metrics.json and training.json into `model_dir`; returns the artefact's path."""
    import joblib  # type: ignore[import-untyped]

    from retrain.registry.metadata import json_safe

    directory = Path(model_dir)
    directory.mkdir(parents=True, exist_ok=True)
    artefact = directory / ARTEFACT
    scratch = directory / f".{ARTEFACT}.tmp"
    joblib.dump(result.model, scratch)
    scratch.replace(artefact)
    write_json(directory / METRICS, json_safe(result.metrics, "metrics"))
    write_json(directory / TRAINING, json_safe(result.training_json(), "training"))
    return artefact
