"""Loading one registered version for serving: digest-checked unpickle, contract, predictor, output shape.

Everything that can go wrong with a version goes wrong here, before it is swapped in: a digest mismatch, an
artefact that does not unpickle, a model without `predict`, a contract whose width the model does not take,
a predict that raises on probe rows. The server then keeps answering with the version it had.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from retrain.data.contracts import FeatureContract
from retrain.errors import InvalidInput, Location
from retrain.registry import Registry, VersionInfo, load_model
from retrain.serving.compiled import Choice, Predict, fast_predictor, probe_rows

PLATFORM = "sklearn"


@dataclass(frozen=True)
class OutputSpec:
    """What `predict` returns for n rows: (n,) or (n, width), and its Open Inference Protocol datatype."""

    datatype: str
    width: int | None

    def shape(self, rows: int) -> list[int]:
        return [rows] if self.width is None else [rows, self.width]


@dataclass(frozen=True)
class LoadedModel:
    """A version ready to answer. Immutable: a reload builds a new one and swaps the reference."""

    name: str
    version: int
    info: VersionInfo
    width: int
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]
    contract: FeatureContract | None
    predict: Predict
    engine: str
    engine_reason: str
    output: OutputSpec
    load_seconds: float

    @property
    def version_text(self) -> str:
        return str(self.version)

    def describe_input(self, limit: int = 8) -> str:
        """What a client must send, naming the first features (the full list is in the V2 metadata)."""
        if not self.feature_names:
            return f"send {self.width} numbers per row"
        shown = ", ".join(self.feature_names[:limit])
        more = f", ... ({self.width} in all; see GET /v2/models/{self.name})" if self.width > limit else ""
        return f"send {self.width} float64 values per row in this order: {shown}{more}"


def _datatype(values: NDArray[Any]) -> str:
    kind, size = values.dtype.kind, values.dtype.itemsize
    if kind == "b":
        return "BOOL"
    if kind == "i":
        return f"INT{size * 8}"
    if kind == "u":
        return f"UINT{size * 8}"
    if kind == "f":
        return f"FP{size * 8}"
    return "BYTES"


def _contract(info: VersionInfo) -> FeatureContract | None:
    raw = info.metadata.get("feature_contract")
    if not raw:
        return None
    return FeatureContract.from_json(raw, where=f"{info.path}/metadata.json: feature_contract")


def _refuse(info: VersionInfo, message: str, hint: str) -> InvalidInput:
    return InvalidInput(
        f"model {info.model!r} version {info.version}: {message}",
        location=Location(file=str(info.artefact)),
        hint=hint,
    )


def load_version(
    registry: Registry, model: str, version: int | None = None, *, fast_path: bool = True
) -> LoadedModel:
    """Load `version` (default: the serving one) and prove it answers; raise a RetrainError otherwise."""
    started = time.perf_counter()
    estimator, info = load_model(registry, model, version)
    if not callable(getattr(estimator, "predict", None)):
        raise _refuse(
            info,
            f"the artefact is a {type(estimator).__name__}, which has no predict()",
            "train and register a scikit-learn estimator or pipeline",
        )
    contract = _contract(info)
    trained_width = getattr(estimator, "n_features_in_", None)
    if contract is not None:
        width = contract.width
        if trained_width is not None and int(trained_width) != width:
            raise _refuse(
                info,
                f"the model takes {trained_width} features but its feature contract names {width}",
                "the notebook and the contract disagree; fix one and retrain",
            )
    elif trained_width is not None:
        width = int(trained_width)
    else:
        raise _refuse(
            info,
            "no feature contract and no n_features_in_: the input width is unknown",
            "register the model with its feature contract",
        )
    choice: Choice = fast_predictor(estimator, width) if fast_path else _plain(estimator)
    try:
        probe = np.asarray(choice.predict(probe_rows(estimator, width)[:2]))
    except Exception as err:
        raise _refuse(
            info,
            f"predict() fails on probe rows: {type(err).__name__}: {err}",
            "the model cannot answer a request; do not serve it",
        ) from err
    if probe.ndim not in (1, 2) or probe.shape[0] != 2:
        raise _refuse(
            info,
            f"predict() returned shape {probe.shape} for 2 rows",
            "predict must return one value or one row of values per input row",
        )
    output = OutputSpec(_datatype(probe), None if probe.ndim == 1 else int(probe.shape[1]))
    names = contract.feature_names if contract else tuple(_names(estimator, width))
    return LoadedModel(
        name=model,
        version=info.version,
        info=info,
        width=width,
        feature_names=names,
        target_names=contract.target_names if contract else (),
        contract=contract,
        predict=choice.predict,
        engine=choice.engine,
        engine_reason=choice.reason,
        output=output,
        load_seconds=time.perf_counter() - started,
    )


def _plain(estimator: Any) -> Choice:
    from retrain.serving.compiled import ENGINE_SKLEARN, sklearn_predict

    return Choice(sklearn_predict(estimator), ENGINE_SKLEARN, "fast path disabled")


def _names(estimator: Any, width: int) -> list[str]:
    names = getattr(estimator, "feature_names_in_", None)
    return [str(n) for n in names] if names is not None and len(names) == width else []
