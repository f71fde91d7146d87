"""Infra validation (TFX InfraValidator's LOAD_AND_QUERY): serve a candidate in the real server and ask it.

The candidate version is pinned in a fresh `ServingApp` served by uvicorn on an ephemeral 127.0.0.1 port,
so it goes through the very loader (digest check, unpickle, contract, probe) and the very HTTP request
handling that production uses; then one KServe V1 and one Open Inference Protocol V2 request are sent with
real rows. The registry's `serving` alias is neither read nor changed.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from retrain.registry import Registry
from retrain.serving.runner import BackgroundServer, create_app


@dataclass(frozen=True)
class Query:
    """One request of the validation and what came back."""

    protocol: str  # "v1" or "v2"
    path: str
    status: int
    seconds: float
    model_version: str | None  # the X-Model-Version header
    outputs: list[Any] | None  # V1 predictions, or the V2 output's data (flat)
    error: str | None = None


@dataclass(frozen=True)
class InfraReport:
    model: str
    version: int
    loaded: bool
    load_seconds: float
    load_error: str | None
    engine: str | None
    queries: tuple[Query, ...] = field(default=())
    problems: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.loaded and not self.problems

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok, "queries": [asdict(q) for q in self.queries]}


def _request(port: int, method: str, path: str, body: Any | None) -> tuple[int, dict[str, str], Any, float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        data = json.dumps(body).encode() if body is not None else None
        started = time.perf_counter()
        connection.request(method, path, body=data, headers={"content-type": "application/json"})
        response = connection.getresponse()
        raw = response.read()
        seconds = time.perf_counter() - started
        headers = {key.lower(): value for key, value in response.getheaders()}
    finally:
        connection.close()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return response.status, headers, parsed, seconds


def _wait_ready(port: int, model: str, timeout_s: float) -> tuple[bool, float, dict[str, Any]]:
    started = time.perf_counter()
    while True:
        status, _, body, _ = _request(port, "GET", f"/v2/models/{model}/ready", None)
        detail = body if isinstance(body, dict) else {}
        if status == 200 or detail.get("state") == "UNAVAILABLE":
            return status == 200, time.perf_counter() - started, detail
        if time.perf_counter() - started > timeout_s:
            return False, time.perf_counter() - started, {"reason": f"not ready within {timeout_s:g} s"}
        time.sleep(0.01)  # bounded polling of the real server thread while it loads


def infra_validate(
    registry_root: Path | Registry,
    model: str,
    version: int,
    instances: Sequence[Sequence[float]],
    *,
    timeout_s: float = 60.0,
) -> InfraReport:
    """Load `model` `version` in the serving code path and answer one V1 and one V2 request for `instances`.

    The report is OK when the version loaded, both requests answered 200 with `X-Model-Version: version`,
    one prediction per instance, and the same predictions through both protocols.
    """
    rows = [list(map(float, row)) for row in instances]
    app = create_app(registry_root, pinned={model: version}, poll_interval_s=None)
    with BackgroundServer(app) as server:
        ready, waited, detail = _wait_ready(server.port, model, timeout_s)
        if not ready:
            reason = str(detail.get("reason") or detail.get("error") or "not ready")
            return InfraReport(model, version, False, waited, reason, None, problems=(reason,))
        engine = detail.get("engine")
        state = app.repository.state(model)
        load_seconds = state.model.load_seconds if state and state.model else waited
        v1_path = f"/v1/models/{model}:predict"
        v2_path = f"/v2/models/{model}/infer"
        width = len(rows[0]) if rows else 0
        v2_body = {
            "inputs": [
                {
                    "name": "input-0",
                    "shape": [len(rows), width],
                    "datatype": "FP64",
                    "data": [x for row in rows for x in row],
                }
            ]
        }
        queries = []
        for protocol, path, body in (("v1", v1_path, {"instances": rows}), ("v2", v2_path, v2_body)):
            status, headers, answer, seconds = _request(server.port, "POST", path, body)
            outputs, error = _outputs(protocol, status, answer)
            queries.append(
                Query(protocol, path, status, seconds, headers.get("x-model-version"), outputs, error)
            )
    return InfraReport(
        model,
        version,
        True,
        load_seconds,
        None,
        engine,
        tuple(queries),
        tuple(_problems(queries, version, len(rows))),
    )


def _outputs(protocol: str, status: int, answer: Any) -> tuple[list[Any] | None, str | None]:
    if status != 200 or not isinstance(answer, dict):
        error = answer.get("error") if isinstance(answer, dict) else str(answer)
        return None, str(error)
    if protocol == "v1":
        return answer.get("predictions"), None
    outputs = answer.get("outputs") or [{}]
    return outputs[0].get("data"), None


def _problems(queries: Sequence[Query], version: int, count: int) -> list[str]:
    problems: list[str] = []
    for query in queries:
        name = query.protocol.upper()
        if query.status != 200:
            problems.append(f"{name} {query.path} answered {query.status}: {query.error}")
            continue
        if query.model_version != str(version):
            problems.append(f"{name} answered as version {query.model_version}, expected {version}")
        if query.outputs is None:
            problems.append(f"{name} answer has no predictions")
    if not problems and len(queries) == 2:
        v1, v2 = queries[0].outputs or [], queries[1].outputs or []
        if len(v1) != count:
            problems.append(f"V1 returned {len(v1)} predictions for {count} instances")
        flat = [x for row in v1 for x in (row if isinstance(row, list) else [row])]
        if flat != v2:
            problems.append("V1 and V2 answers differ for the same rows")
    return problems
