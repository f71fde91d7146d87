"""The values the run store hands out: runs, task runs, events; and how they map to and from table rows.

Timestamps are timezone-aware UTC datetimes in Python and fixed-width ISO-8601 strings in the database
(`2026-01-01T00:00:00.000000Z`), so that text order is time order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, get_args

from retrain.errors import InvalidInput, Location

RunKind = Literal["PipelineRun", "TaskRun"]
# Coarse state for queries; the Tekton status dict holds the detail.
RunState = Literal["Pending", "Running", "Succeeded", "Failed", "Cancelled"]
EventType = Literal["Normal", "Warning"]
CancelMode = Literal["Cancelled", "CancelledRunFinally", "StoppedRunFinally"]

RUN_KINDS: frozenset[str] = frozenset(get_args(RunKind))
RUN_STATES: frozenset[str] = frozenset(get_args(RunState))
EVENT_TYPES: frozenset[str] = frozenset(get_args(EventType))
CANCEL_MODES: frozenset[str] = frozenset(get_args(CancelMode))
ACTIVE_STATES: frozenset[str] = frozenset({"Pending", "Running"})
FINISHED_STATES: frozenset[str] = frozenset({"Succeeded", "Failed", "Cancelled"})

# Kubernetes object names (DNS-1123 subdomains). Run, task run and step names become directory and file
# names under the run store's home, so this also keeps them from leaving it ("..", "/").
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_MAX_NAME = 253


def check_name(name: str, *, field: str) -> str:
    if not isinstance(name, str) or len(name) > _MAX_NAME or not _NAME_RE.match(name):
        raise InvalidInput(
            f"{name!r} is not a valid name",
            location=Location(field=field),
            hint="use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, "
            f"at most {_MAX_NAME} characters",
        )
    return name


@dataclass(frozen=True)
class RunRecord:
    name: str
    kind: RunKind
    pipeline: str | None
    state: RunState
    reason: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    manifest: dict[str, Any]  # the run object as submitted (Tekton-shaped dict)
    status: dict[str, Any]  # Tekton-shaped status (conditions, childReferences, ...), as last written
    labels: dict[str, str]
    concurrency_key: str | None
    engine_pid: int | None
    cancel_requested: str | None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES


@dataclass(frozen=True)
class TaskRunRecord:
    name: str
    run_name: str
    pipeline_task: str | None
    retry: int
    state: RunState
    reason: str | None
    started_at: datetime | None
    completed_at: datetime | None
    status: dict[str, Any]
    results: dict[str, Any]


@dataclass(frozen=True)
class EventRecord:
    run_name: str
    at: datetime
    type: EventType
    reason: str
    message: str


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_iso(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at!r}: the run store's clock must return timezone-aware times")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _opt_time(text: str | None) -> datetime | None:
    return None if text is None else from_iso(text)


def rfc3339(at: datetime) -> str:
    """Kubernetes' metav1.Time spelling, used inside Tekton status dicts."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_time(status: Mapping[str, Any], key: str) -> datetime | None:
    """A Tekton status timestamp (`startTime`, `completionTime`), when present and well-formed."""
    value = status.get(key)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def dump_json(value: Mapping[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Row(Protocol):
    """A database row read by column name (sqlite3.Row)."""

    def __getitem__(self, key: str, /) -> Any: ...


def run_from_row(row: Row) -> RunRecord:
    return RunRecord(
        name=row["name"],
        kind=row["kind"],
        pipeline=row["pipeline"],
        state=row["state"],
        reason=row["reason"],
        created_at=from_iso(row["created_at"]),
        started_at=_opt_time(row["started_at"]),
        completed_at=_opt_time(row["completed_at"]),
        manifest=json.loads(row["manifest"]),
        status=json.loads(row["status"]),
        labels=json.loads(row["labels"]),
        concurrency_key=row["concurrency_key"],
        engine_pid=row["engine_pid"],
        cancel_requested=row["cancel_requested"],
    )


def taskrun_from_row(row: Row) -> TaskRunRecord:
    return TaskRunRecord(
        name=row["name"],
        run_name=row["run_name"],
        pipeline_task=row["pipeline_task"],
        retry=row["retry"],
        state=row["state"],
        reason=row["reason"],
        started_at=_opt_time(row["started_at"]),
        completed_at=_opt_time(row["completed_at"]),
        status=json.loads(row["status"]),
        results=json.loads(row["results"]),
    )


def event_from_row(row: Row) -> EventRecord:
    return EventRecord(
        run_name=row["run_name"],
        at=from_iso(row["at"]),
        type=row["type"],
        reason=row["reason"],
        message=row["message"],
    )


def with_outcome(status: Mapping[str, Any], *, reason: str, message: str, at: datetime) -> dict[str, Any]:
    """`status` ended by the store itself (cancelled before start, refused, engine gone): Succeeded=False.

    Everything else the engine wrote (childReferences, startTime, ...) is kept, so `runs show` still
    shows how far the run got.
    """
    from retrain.runs.status import Condition, ended

    return ended(status, Condition("False", reason, message, at))


Decision = Literal["start", "wait", "refused"]


@dataclass(frozen=True)
class Contender:
    """A run as the admission policy sees it: one of the runs that share a concurrency key."""

    name: str
    seq: int  # creation order (FIFO position)
    state: RunState
    admitted: bool  # a Pending run that was told to start (the engine has not marked it Running yet)
    cancel_requested: bool = False


@dataclass(frozen=True)
class AdmissionPlan:
    """What a policy decided, and which other runs must be asked to cancel for it (Replace)."""

    decision: Decision
    reason: str
    blocking_runs: tuple[str, ...] = ()
    cancel: tuple[str, ...] = ()
