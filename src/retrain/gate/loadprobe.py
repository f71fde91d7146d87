"""The probe process: `python -m retrain.gate.loadprobe` loads ONE model and answers the gate's requests.

Unpickling runs arbitrary code and `predict` may raise, hang or kill the interpreter, so the gate never does
either in its own process. This process reads one JSON request per line on stdin and writes one JSON answer
per line on its private copy of stdout (fd 1 itself is pointed at stderr, so whatever the model prints
cannot corrupt the protocol). The parent (`retrain.gate.probe.Probe`) times every request and kills this
process group when one takes too long. Arrays travel as .npy files in the parent's scratch directory.

Requests (`op`): `load` {path, sha256, size}; `predict` {inputs, output}; `evaluate` {kind, inputs,
labels|targets, names}; `infra` {registry, model, version, inputs, timeout_s}; `exit`.
Answers: {"ok": true, ...} or {"ok": false, "error": "Type: message", "traceback": "..."}.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, TextIO

_state: dict[str, Any] = {}


def _load(request: dict[str, Any]) -> dict[str, Any]:
    from retrain.errors import RetrainError
    from retrain.registry.errors import IntegrityError
    from retrain.registry.loading import load_artefact

    started = time.perf_counter()
    path = Path(request["path"])
    try:
        # The digest is checked on the very bytes that are unpickled (the gate's check 1 may be a moment old).
        model = load_artefact(
            path, sha256=request["sha256"], size=int(request["size"]), label=str(request.get("label") or path)
        )
    except IntegrityError as err:
        return {"ok": False, "error": f"IntegrityError: {err.message}"}
    except RetrainError as err:  # not a loadable pickle: report what the unpickler raised
        cause = err.__cause__ or err
        return {
            "ok": False,
            "error": f"{type(cause).__name__}: {cause}",
            "traceback": "".join(traceback.format_exception(cause, limit=8))[-4000:],
        }
    _state["model"] = model
    kind = type(model)
    width = getattr(model, "n_features_in_", None)
    return {
        "ok": True,
        "type": f"{kind.__module__}.{kind.__qualname__}",
        "has_predict": callable(getattr(model, "predict", None)),
        "n_features_in": _as_int(width),
        "seconds": time.perf_counter() - started,
    }


def _as_int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _array(path: str) -> Any:
    import numpy as np

    return np.load(path, allow_pickle=False)


def _predict(request: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    started = time.perf_counter()
    raw = _state["model"].predict(_array(request["inputs"]))
    seconds = time.perf_counter() - started
    answer = np.asarray(raw)
    try:
        values = answer.astype(np.float64)
    except (TypeError, ValueError) as err:
        return {
            "ok": False,
            "error": f"predict() returned {answer.dtype} values that are not numbers: {err}",
            "returned": type(raw).__name__,
        }
    np.save(request["output"], values, allow_pickle=False)
    return {"ok": True, "shape": list(answer.shape), "dtype": str(answer.dtype), "seconds": seconds}


def _evaluate(request: dict[str, Any]) -> dict[str, Any]:
    from retrain.registry.metadata import json_safe

    model, inputs = _state["model"], _array(request["inputs"])
    started = time.perf_counter()
    # The trainers' own evaluation functions: the gate measures exactly what the trainer recorded.
    if request["kind"] == "anomaly":
        from retrain.training.anomaly import evaluate

        metrics = evaluate(model, inputs, _array(request["labels"]))
    else:
        from retrain.training.forecast import evaluate as evaluate_forecast

        metrics = evaluate_forecast(model, inputs, _array(request["targets"]), list(request["names"]))
    return {"ok": True, "metrics": json_safe(metrics, "metrics"), "seconds": time.perf_counter() - started}


def _infra(request: dict[str, Any]) -> dict[str, Any]:
    from retrain.serving.infra import infra_validate

    rows = _array(request["inputs"]).tolist()
    report = infra_validate(
        Path(request["registry"]),
        request["model"],
        int(request["version"]),
        rows,
        timeout_s=float(request["timeout_s"]),
    )
    return {"ok": True, "report": report.to_json()}


_OPS = {"load": _load, "predict": _predict, "evaluate": _evaluate, "infra": _infra}


def serve(requests: TextIO, answers: TextIO) -> None:
    for line in requests:
        if not line.strip():
            continue
        request = json.loads(line)
        op = request.get("op")
        if op == "exit":
            return
        handler = _OPS.get(op)
        try:
            if handler is None:
                answer: dict[str, Any] = {"ok": False, "error": f"unknown op {op!r}"}
            elif op != "load" and "model" not in _state:
                answer = {"ok": False, "error": "no model loaded"}
            else:
                answer = handler(request)
        except BaseException as err:  # anything the model raises is an answer, not the end of the probe
            if isinstance(err, KeyboardInterrupt | SystemExit) and op == "load":
                answer = {"ok": False, "error": f"{type(err).__name__} raised while unpickling"}
            elif isinstance(err, KeyboardInterrupt):
                raise
            else:
                answer = {
                    "ok": False,
                    "error": f"{type(err).__name__}: {err}",
                    "traceback": traceback.format_exc(limit=8)[-4000:],
                }
        answers.write(json.dumps(answer, default=str) + "\n")
        answers.flush()


def main() -> None:
    # Keep the real stdout for the protocol and send fd 1 (prints, C libraries) to stderr.
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    serve(sys.stdin, answers)


if __name__ == "__main__":
    main()
