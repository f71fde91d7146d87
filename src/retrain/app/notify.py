"""How a pipeline run ended, for its notification: the use case behind `retrain notify` (the catalog's
`notify-run` Task, a `finally` task on a cluster).

A finally task sees `$(tasks.status)` (Succeeded, Completed, Failed, None), not the run's final condition,
and cannot read the results of a task that failed (Tekton would skip it), so the version this run registered
is read from the registry's audit log instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from retrain.errors import InvalidInput, Location

RunEndKind = Literal["successful", "failed", "cancelled"]
# $(tasks.status): Succeeded (every task succeeded), Completed (succeeded, some skipped), Failed, None (some
# task has no status, e.g. the run was stopped before it ran). Tekton has no "Cancelled" there; a run
# cancelled with finally tasks shows Failed or None, which we must not call a success.
_KINDS: dict[str, RunEndKind] = {
    "Succeeded": "successful",
    "Completed": "successful",
    "Failed": "failed",
    "None": "failed",
    "Cancelled": "cancelled",
}
_URL = re.compile(r"^https?://[^/\s]+")


@dataclass(frozen=True)
class RunEndRequest:
    run: str
    tasks_status: str
    urls: str  # space- or comma-separated
    pipeline: str | None = None
    model: str | None = None
    registry: Path | None = None


@dataclass(frozen=True)
class RunEnd:
    run: str
    kind: RunEndKind
    reason: str  # the tasks' status, as Tekton said it
    urls: tuple[str, ...]
    pipeline: str | None
    model: str | None
    version: str | None  # the version this run registered, if it got that far


def parse_urls(text: str) -> tuple[str, ...]:
    urls = tuple(u for u in re.split(r"[\s,]+", text.strip()) if u)
    for url in urls:
        if not _URL.match(url):
            raise InvalidInput(
                f"notify URL {url!r} is not an http(s) URL",
                location=Location(field="notify-urls"),
                hint="give space- or comma-separated URLs such as https://events.example.com/retrain",
            )
    return urls


def run_end(req: RunEndRequest) -> RunEnd:
    kind = _KINDS.get(req.tasks_status)
    if kind is None:
        raise InvalidInput(
            f"--status {req.tasks_status!r} is not a Tekton tasks status",
            location=Location(field="tasks-status"),
            hint=f"pass $(tasks.status): one of {', '.join(_KINDS)}",
        )
    return RunEnd(
        run=req.run,
        kind=kind,
        reason=req.tasks_status,
        urls=parse_urls(req.urls),
        pipeline=req.pipeline or None,
        model=req.model or None,
        version=_registered_by(req.registry, req.model, req.run),
    )


def _registered_by(registry: Path | None, model: str | None, run: str) -> str | None:
    if registry is None or not model or not (registry / model).is_dir():
        return None
    from retrain.registry import Registry

    versions = [
        e.version for e in Registry(registry).history(model) if e.event == "registered" and e.run == run
    ]
    return str(versions[-1]) if versions and versions[-1] is not None else None
