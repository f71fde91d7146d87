"""Check what a notebook left in MODEL_DIR before anything is registered.

`model.pkl` must exist, unpickle (through the registry's one loader, `retrain.registry.load_artefact`), and
be a model: `predict` must be callable, and when the feature contract is known, `predict` on two rows of
the contract's width must answer one prediction per row (and `target_width` values per prediction for a
multi-output model). `metrics.json` and `training.json`
are optional, but when present they must be JSON objects. Every problem is a RunFailed naming the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from retrain.data.contracts import FeatureContract
from retrain.errors import InvalidInput, Location, RunFailed
from retrain.training.outputs import ARTEFACT, METRICS, TRAINING, TrainingJSON


@dataclass(frozen=True)
class NotebookOutputs:
    artefact: Path
    model: Any
    metrics: dict[str, Any]
    training: TrainingJSON
    contract: FeatureContract | None
    sha256: str  # of the artefact's bytes that were loaded and checked


def _json_object(path: Path, notebook: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise RunFailed(
            f"{path.name} written by notebook {notebook.name} is not valid JSON: {err}",
            location=Location(file=str(path)),
            hint=f"write it with json.dump(...) or leave {path.name} out",
        ) from None
    if not isinstance(value, dict):
        raise RunFailed(
            f"{path.name} written by notebook {notebook.name} must be a JSON object, "
            f"got {type(value).__name__}",
            location=Location(file=str(path)),
            hint='for example {"rmse": 0.12}',
        )
    return value


def read_outputs(model_dir: Path, *, notebook: Path, contract: FeatureContract | None) -> NotebookOutputs:
    """The notebook's outputs, checked. `contract` is the built-in one (None for a custom model, whose
    `training.json` may carry its own)."""
    artefact = model_dir / ARTEFACT
    if not artefact.is_file():
        raise RunFailed(
            f"notebook {notebook.name} ran to the end but wrote no {ARTEFACT} into MODEL_DIR ({model_dir})",
            location=Location(file=str(notebook)),
            hint="end the notebook with "
            "joblib.dump(model, os.path.join(os.environ['MODEL_DIR'], 'model.pkl'))",
        )
    metrics = _json_object(model_dir / METRICS, notebook) or {}
    training = cast(TrainingJSON, _json_object(model_dir / TRAINING, notebook) or {"schema": 1})
    stated = training.get("feature_contract")
    if stated is not None:
        try:
            contract = FeatureContract.from_json(stated, where=f"{TRAINING}.feature_contract")
        except InvalidInput as err:
            raise RunFailed(
                f"notebook {notebook.name} wrote an invalid feature contract: {err}",
                location=Location(file=str(model_dir / TRAINING)),
            ) from None
    model, sha256 = load_model(artefact, notebook)
    check_model(model, artefact, contract)
    return NotebookOutputs(artefact, model, metrics, training, contract, sha256)


def load_model(artefact: Path, notebook: Path) -> tuple[Any, str]:
    """The model the notebook wrote and the digest of the bytes that were unpickled.

    The registry's one loader does the unpickling; the digest is taken here, and `register` later refuses
    a copy with another digest, so the version registered is the model that passed these checks.
    """
    from retrain.registry.digest import sha256_file
    from retrain.registry.loading import load_artefact

    sha256, size = sha256_file(artefact)
    model = load_artefact(
        artefact,
        sha256=sha256,
        size=size,
        label=f"{ARTEFACT} written by notebook {notebook.name}",
        refuse=RunFailed,
    )
    return model, sha256


def check_model(model: Any, artefact: Path, contract: FeatureContract | None) -> None:
    """`model` must have a callable `predict` that answers the contract's shape."""
    where = Location(file=str(artefact))
    if not callable(getattr(model, "predict", None)):
        raise RunFailed(
            f"{ARTEFACT} holds a {type(model).__module__}.{type(model).__qualname__}, which is not a model: "
            "it has no predict method",
            location=where,
            hint="dump the fitted estimator itself (an object with predict(X)), not its data or parameters",
        )
    if contract is None:
        return
    import numpy as np

    rows = np.zeros((2, contract.width), dtype=np.float64)
    try:
        answer = np.asarray(model.predict(rows))
    except Exception as err:  # a model may raise anything from predict
        raise RunFailed(
            f"{ARTEFACT}: predict on 2 rows of the contract's {contract.width} features failed: "
            f"{type(err).__name__}: {err}",
            location=where,
            hint=contract.describe(),
        ) from None
    expected: tuple[int, ...] = (2, contract.target_width) if contract.target_width > 1 else (2,)
    if answer.shape[:1] != (2,) or (contract.target_width > 1 and answer.shape != expected):
        raise RunFailed(
            f"{ARTEFACT}: predict on 2 rows answered shape {answer.shape}, expected {expected}",
            location=where,
            hint="the model must answer one prediction per row",
        )
