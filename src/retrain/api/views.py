"""What the read endpoints answer: runs as summaries and as Tekton documents, models from the registry."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from retrain.errors import InvalidInput, Location, NotFound
from retrain.registry import Registry
from retrain.runs.documents import run_document
from retrain.runs.documents import taskrun_documents as tekton_taskruns
from retrain.runs.records import RUN_STATES, RunRecord, RunState
from retrain.runs.store import RunStore

MAX_LIMIT = 500
LIST_FILTERS = ("model", "trigger", "state", "pipeline", "label", "limit")


def _time(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat().replace("+00:00", "Z")


def run_summary(record: RunRecord) -> dict[str, Any]:
    condition: dict[str, Any] = next(
        (c for c in record.status.get("conditions", []) if c.get("type") == "Succeeded"), {}
    )
    return {
        "name": record.name,
        "kind": record.kind,
        "pipeline": record.pipeline,
        "model": record.labels.get("retrain.dev/model"),
        "trigger": record.labels.get("retrain.dev/trigger"),
        "state": record.state,
        "reason": record.reason,
        "message": condition.get("message"),
        "created": _time(record.created_at),
        "started": _time(record.started_at),
        "completed": _time(record.completed_at),
    }


def list_runs(store: RunStore, query: list[tuple[str, str]]) -> dict[str, Any]:
    """GET /api/v1/runs?model=&trigger=&state=&pipeline=&label=k=v&limit=: newest first."""
    labels: dict[str, str] = {}
    state: RunState | None = None
    pipeline: str | None = None
    limit = 50
    for key, value in query:
        if key == "model":
            labels["retrain.dev/model"] = value
        elif key == "trigger":
            labels["retrain.dev/trigger"] = value
        elif key == "label":
            name, sep, wanted = value.partition("=")
            if not sep or not name:
                raise InvalidInput(f"label filter {value!r} must be KEY=VALUE", location=_q("label"))
            labels[name] = wanted
        elif key == "state":
            if value not in RUN_STATES:
                raise InvalidInput(
                    f"unknown state {value!r}", location=_q("state"), hint=f"use one of {_states()}"
                )
            state = value  # type: ignore[assignment]
        elif key == "pipeline":
            pipeline = value
        elif key == "limit":
            if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
                raise InvalidInput(f"limit {value!r} must be 1 to {MAX_LIMIT}", location=_q("limit"))
            limit = int(value)
        else:
            raise InvalidInput(
                f"unknown filter {key!r}", location=_q(key), hint=f"filters: {', '.join(LIST_FILTERS)}"
            )
    records = store.list_runs(pipeline=pipeline, state=state, label=labels or None, limit=limit)
    return {"runs": [run_summary(r) for r in records]}


def pipelinerun_document(store: RunStore, name: str) -> dict[str, Any]:
    """The run as Tekton shows it (`kubectl get pipelinerun NAME -o json`): manifest plus status."""
    return run_document(store, name)


def taskrun_documents(store: RunStore, name: str) -> dict[str, Any]:
    """The run's TaskRuns, Tekton-shaped: the last try of each (earlier ones are in retriesStatus)."""
    return {"taskRuns": tekton_taskruns(store, name)}


def list_models(root: Path) -> dict[str, Any]:
    """GET /api/v1/models: every model in the registry with its versions and what serves."""
    registry = Registry(root)
    models = []
    for name in registry.models():
        try:
            aliases = dict(registry.aliases(name))
            versions = registry.versions(name)
        except NotFound:  # removed while we read
            continue
        models.append(
            {
                "name": name,
                "serving": aliases.get("serving"),
                "previous": aliases.get("previous"),
                "aliases": aliases,
                "versions": [
                    {
                        "version": v.version,
                        "created_at": v.created_at,
                        "sha256": v.sha256,
                        "trainer": v.metadata.get("trainer"),
                        "data_source": v.metadata.get("data_source_effective"),
                        "run": v.metadata.get("run"),
                    }
                    for v in versions
                ],
            }
        )
    return {"models": models}


def _q(name: str) -> Location:
    return Location(field=f"query.{name}")


def _states() -> str:
    return ", ".join(sorted(RUN_STATES))
