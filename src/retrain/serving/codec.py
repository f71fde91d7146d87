"""Request bodies to numpy rows and answers to JSON, for KServe V1 and the Open Inference Protocol (V2).

The happy path is a few C calls: orjson parses the body, one `np.asarray` builds the array, its dtype and
shape are checked against the model's width, and `np.isfinite` rejects what scikit-learn would refuse. Only
when that fails does a slow Python scan run, to say exactly which row and feature is wrong. Every refusal is
an InvalidInput whose message names the expected width and features, so the HTTP layer answers 400.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

import numpy as np
import orjson

from retrain import asgi
from retrain.errors import InvalidInput, Location
from retrain.serving.compiled import Floats
from retrain.serving.loader import LoadedModel

dumps = orjson.dumps  # several times faster than json for these bodies

V1_EXAMPLE = '{"instances": [[...], ...]}'
V2_EXAMPLE = '{"inputs": [{"name": "input-0", "shape": [N, WIDTH], "datatype": "FP64", "data": [...]}]}'
NUMERIC_TYPES = frozenset(
    {"FP64", "FP32", "FP16", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}
)


def parse_json(body: bytes, *, v2: bool) -> Any:
    example = V2_EXAMPLE if v2 else V1_EXAMPLE
    return asgi.parse_json(body, what="infer" if v2 else "predict", example=f"a JSON object, e.g. {example}")


def _bad(model: LoadedModel, message: str, field: str) -> InvalidInput:
    return InvalidInput(
        f"{model.name}: {message}", location=Location(field=field), hint=model.describe_input()
    )


def rows(value: Any, model: LoadedModel, field: str) -> Floats:
    """A (n, width) float64 array from a JSON list of rows, or an InvalidInput that says what is wrong."""
    if not isinstance(value, list) or not value:
        raise _bad(model, "expected a non-empty list of rows, each a list of numbers", field)
    try:
        array = np.asarray(value)
    except (ValueError, TypeError, OverflowError):  # ragged rows, or numbers numpy cannot hold
        array = None
    if array is None or array.ndim != 2 or array.dtype.kind not in "fiu" or array.shape[1] != model.width:
        raise _explain(value, model, field)
    return _finite(np.ascontiguousarray(array, dtype=np.float64), model, field)


def _finite(array: Floats, model: LoadedModel, field: str) -> Floats:
    if not np.isfinite(array).all():
        row, column = (int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise _bad(model, f"row {row}, feature {column} ({_feature(model, column)}) is not finite", field)
    return array


def _feature(model: LoadedModel, column: int) -> str:
    return model.feature_names[column] if column < len(model.feature_names) else f"#{column}"


def _explain(value: list[Any], model: LoadedModel, field: str) -> InvalidInput:
    for index, row in enumerate(value):
        where = f"{field}[{index}]"
        if not isinstance(row, list):
            hint = " (wrap a single row in a list: [[...]])" if isinstance(row, int | float) else ""
            return _bad(
                model, f"row {index} is a {_type(row)}, not a list of {model.width} numbers{hint}", where
            )
        if len(row) != model.width:
            return _bad(
                model,
                f"{model.name} expects {model.width} features per row, row {index} has {len(row)}",
                where,
            )
        for column, item in enumerate(row):
            if isinstance(item, bool) or not isinstance(item, int | float):
                name = _feature(model, column)
                return _bad(
                    model,
                    f"row {index}, feature {column} ({name}) is a {_type(item)}, not a number",
                    f"{where}[{column}]",
                )
            if isinstance(item, float) and not math.isfinite(item):
                return _bad(model, f"row {index}, feature {column} is not finite", f"{where}[{column}]")
    return _bad(model, "rows must be lists of numbers (integers beyond 64 bits are not accepted)", field)


def _type(item: Any) -> str:
    return {str: "string", bool: "boolean", dict: "object", list: "list", type(None): "null"}.get(
        type(item), type(item).__name__
    )


def _kind(item: Any) -> str:
    """What a JSON value is, with its article: "an object", "a list", "a number", "null"."""
    if item is None:
        return "null"
    if isinstance(item, bool):
        return "a boolean"
    if isinstance(item, int | float):
        return "a number"
    if isinstance(item, dict):
        return "an object"
    return "a list" if isinstance(item, list) else f"a {type(item).__name__}"


def v1_rows(payload: Any, model: LoadedModel) -> Floats:
    """KServe V1: `{"instances": [[...], ...]}` (or TensorFlow's `"inputs"`) -> rows."""
    if not isinstance(payload, dict):
        raise _bad(model, f"the body must be a JSON object like {V1_EXAMPLE}", "body")
    key = "instances" if "instances" in payload else "inputs"
    if key not in payload:
        raise _bad(model, f'the body has no "instances": send {V1_EXAMPLE}', "instances")
    return rows(payload[key], model, key)


def v1_answer(predictions: np.ndarray[Any, Any]) -> bytes:
    return dumps({"predictions": predictions.tolist()})


def v2_rows(payload: Any, model: LoadedModel) -> tuple[Floats, str | None]:
    """Open Inference Protocol: one tensor of shape [n, width], data flat or nested -> (rows, request id)."""
    if not isinstance(payload, dict):
        raise _bad(model, f"the body must be a JSON object like {V2_EXAMPLE}", "body")
    request_id = payload.get("id")
    inputs = payload.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise _bad(model, f'"inputs" must hold exactly one tensor: {V2_EXAMPLE}', "inputs")
    tensor = inputs[0]
    datatype, shape, data = tensor.get("datatype"), tensor.get("shape"), tensor.get("data")
    if not isinstance(datatype, str) or datatype not in NUMERIC_TYPES:
        what = (
            f"datatype {datatype[:30]!r} is not accepted"
            if isinstance(datatype, str)
            else (f"datatype must be a string, not {_kind(datatype)}")
        )
        raise _bad(
            model,
            f"{what}; use FP64 (or FP32); the numeric types are {', '.join(sorted(NUMERIC_TYPES))}",
            "inputs[0].datatype",
        )
    if (
        not isinstance(shape, list)
        or len(shape) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape)
    ):
        raise _bad(model, f"shape must be [rows, {model.width}], got {shape!r}", "inputs[0].shape")
    if shape[1] != model.width:
        raise _bad(
            model,
            f"{model.name} expects {model.width} features per row, shape says {shape[1]}",
            "inputs[0].shape",
        )
    if not isinstance(data, list) or not data:
        raise _bad(model, '"data" must be a non-empty list of numbers (flat or nested)', "inputs[0].data")
    if isinstance(data[0], list):
        array = rows(data, model, "inputs[0].data")
        if list(array.shape) != shape:
            raise _bad(model, f"data has shape {list(array.shape)} but shape says {shape}", "inputs[0].data")
    else:
        array = _flat(data, shape, model)
    if datatype != "FP64":
        # What the client declared is what the tensor holds: FP32 data is rounded to float32 first.
        with np.errstate(over="ignore", invalid="ignore"):  # out-of-range values are refused just below
            narrowed = array.astype(np.dtype(datatype.lower().replace("fp", "float")))
        if narrowed.dtype.kind in "iu" and not np.array_equal(narrowed, array):
            raise _bad(model, f"data holds values that are not {datatype}", "inputs[0].data")
        array = _finite(narrowed.astype(np.float64), model, "inputs[0].data")
    return array, request_id if isinstance(request_id, str) else None


def _flat(data: list[Any], shape: list[int], model: LoadedModel) -> Floats:
    try:
        array = np.asarray(data)
    except (ValueError, TypeError, OverflowError):
        array = None
    if array is None or array.ndim != 1 or array.dtype.kind not in "fiu":
        for index, item in enumerate(data):
            if isinstance(item, bool) or not isinstance(item, int | float):
                column = index % model.width
                raise _bad(
                    model,
                    f"data[{index}] (row {index // model.width}, {_feature(model, column)}) "
                    f"is a {_type(item)}, not a number",
                    "inputs[0].data",
                )
        raise _bad(model, "data must be numbers", "inputs[0].data")
    if array.size != shape[0] * shape[1]:
        raise _bad(
            model,
            f"data has {array.size} values but shape {shape} needs {shape[0] * shape[1]}",
            "inputs[0].data",
        )
    return _finite(array.astype(np.float64).reshape(shape), model, "inputs[0].data")


def v2_answer(model: LoadedModel, predictions: np.ndarray[Any, Any], request_id: str | None) -> bytes:
    output = {
        "name": "output-0",
        "shape": list(predictions.shape),
        "datatype": model.output.datatype,
        "data": predictions.ravel().tolist(),
    }
    return dumps(
        {
            "model_name": model.name,
            "model_version": model.version_text,
            "id": request_id or str(uuid.uuid4()),
            "parameters": {"engine": model.engine},
            "outputs": [output],
        }
    )
