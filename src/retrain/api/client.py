"""A small client of the service's API, for `retrain trigger` when a service runs (and for scripts).

Errors come back as the errors they stand for (`retrain.api.errors.error_from_answer`): a 409 is a
Conflict, a 401 Unauthorized, a 503 a TemporaryError, so the CLI's exit codes stay what they are locally.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from retrain.api.errors import error_from_answer
from retrain.errors import TemporaryError

DEFAULT_URL = "http://127.0.0.1:8080"


class ServiceClient:
    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s, transport=transport)

    def close(self) -> None:
        self._http.close()

    def health(self) -> dict[str, Any] | None:
        """The service's health, or None when nothing (or something other than retrain) answers."""
        try:
            answer = self._http.get("/api/v1/health")
            body = answer.json()
        except (httpx.HTTPError, ValueError):
            return None
        if answer.status_code != 200 or not isinstance(body, dict) or body.get("service") != "retrain":
            return None
        return body

    def start_run(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /api/v1/runs: `{"status": "started"|"queued", "run", "reason"}`; refusals raise."""
        return self._call("POST", "/api/v1/runs", json=body)

    def run(self, name: str) -> dict[str, Any]:
        return self._call("GET", f"/api/v1/runs/{name}")

    def taskruns(self, name: str) -> list[dict[str, Any]]:
        docs: list[dict[str, Any]] = self._call("GET", f"/api/v1/runs/{name}/taskruns")["taskRuns"]
        return docs

    def models(self) -> list[dict[str, Any]]:
        models: list[dict[str, Any]] = self._call("GET", "/api/v1/models")["models"]
        return models

    def cancel(self, name: str, mode: str = "Cancelled") -> dict[str, Any]:
        return self._call("POST", f"/api/v1/runs/{name}/cancel", json={"mode": mode})

    def _call(self, method: str, path: str, json: Any = None) -> dict[str, Any]:
        try:
            answer = self._http.request(method, path, json=json)
        except httpx.HTTPError as exc:
            raise TemporaryError(
                f"no answer from the service at {self.url}: {type(exc).__name__}: {exc}", retry_after_s=5.0
            ) from None
        try:
            body = answer.json()
        except ValueError:
            body = None
        if answer.status_code >= 400 or not isinstance(body, dict):
            raise error_from_answer(answer.status_code, body)
        return body


def finished(run_doc: dict[str, Any]) -> bool:
    conditions = run_doc.get("status", {}).get("conditions", [])
    return bool(conditions) and conditions[0].get("status") in ("True", "False")


def task_states(run_doc: dict[str, Any], taskruns: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """pipeline task -> {state, reason, duration} from Tekton-shaped documents (skipped tasks included)."""
    out: dict[str, dict[str, str]] = {}
    for doc in taskruns:
        task = doc["metadata"].get("labels", {}).get("tekton.dev/pipelineTask", doc["metadata"]["name"])
        status = doc.get("status", {})
        condition = (status.get("conditions") or [{}])[0]
        reason = condition.get("reason", "")
        state = {"True": "Succeeded", "False": "Failed"}.get(condition.get("status", ""), "Running")
        if state == "Failed" and "Cancel" in reason:
            state = "Cancelled"
        out[task] = {"state": state, "reason": reason, "duration": _duration(status)}
    for skipped in run_doc.get("status", {}).get("skippedTasks", []):
        out[skipped["name"]] = {"state": "Skipped", "reason": skipped.get("reason", ""), "duration": "-"}
    return out


def result_of(run_doc: dict[str, Any], name: str) -> str | None:
    return next(
        (r["value"] for r in run_doc.get("status", {}).get("results", []) if r.get("name") == name), None
    )


def _duration(status: dict[str, Any]) -> str:
    try:
        start = datetime.fromisoformat(status["startTime"])
        end = datetime.fromisoformat(status["completionTime"])
    except (KeyError, TypeError, ValueError):
        return "-"
    return f"{(end - start).total_seconds():.1f}s"
