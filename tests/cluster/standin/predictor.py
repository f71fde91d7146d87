"""A stand-in for KServe's own sklearn model server: loads `model.pkl` from a directory ONCE, at start-up,
and answers KServe V1/V2 without naming any version (no X-Model-Version header, V2 `model_version` null),
exactly the property that makes verify ask the control plane."""

from __future__ import annotations

import importlib
import json
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import numpy as np

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class StockPredictor:
    def __init__(self, name: str, model_dir: Path) -> None:
        self.name = name
        files = sorted(p for p in model_dir.iterdir() if p.suffix in (".pkl", ".joblib"))
        if len(files) != 1:
            raise RuntimeError(
                f"expected exactly one model file in {model_dir}, found {[p.name for p in files]}"
            )
        self.model = importlib.import_module("joblib").load(files[0])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status, answer = self.answer(scope["method"], scope["path"], body)
        data = json.dumps(answer).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        n = self.name
        if path in (f"/v2/models/{n}/ready", f"/v1/models/{n}"):
            return 200, {"name": n, "ready": True}
        if path == f"/v1/models/{n}:predict" and method == "POST":
            rows = np.asarray(json.loads(body)["instances"], dtype=np.float64)
            return 200, {"predictions": np.asarray(self.model.predict(rows)).tolist()}
        if path == f"/v2/models/{n}/infer" and method == "POST":
            tensor = json.loads(body)["inputs"][0]
            rows = np.asarray(tensor["data"], dtype=np.float64).reshape(tensor["shape"])
            out = np.asarray(self.model.predict(rows))
            kind = "INT64" if out.dtype.kind in "iu" else "FP64"
            return 200, {
                "model_name": n,
                "model_version": None,
                "id": "x",
                "parameters": {},
                "outputs": [
                    {
                        "name": "output-0",
                        "shape": list(out.shape),
                        "datatype": kind,
                        "data": out.ravel().tolist(),
                    }
                ],
            }
        return 404, {"error": f"Model with name {path} does not exist."}
