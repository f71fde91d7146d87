"""What the scheduler remembers across restarts: per schedule, the last fire time it handled and its run.

`<RETRAIN_HOME>/scheduler/state.json`, replaced atomically (temp file, fsync, rename) after every
decision. The scheduler writes a fire time as handled *before* it launches the run, so a crash between
the two loses at most that one fire (it is never started twice). While a scheduler runs it holds an
exclusive lock beside the file: a second `retrain serve` on the same home refuses to schedule instead
of firing every job a second time.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Protocol, TypedDict

from retrain.errors import Conflict, InvalidInput, Location

SCHEMA = 1
HISTORY_LIMIT = 20  # records kept per schedule


class FireRecordJSON(TypedDict):
    scheduled_for: str  # the cron time this record is about (ISO 8601, UTC)
    at: str  # when the scheduler handled it
    outcome: str  # started | queued | refused | ignored | skipped | error
    run: str | None
    reason: str


class ScheduleStateJSON(TypedDict):
    cron: str  # "<expression> (<zone>)": a changed schedule starts afresh
    last_scheduled: str | None  # the latest fire time handled (launched or skipped)
    last_run: str | None  # the run the schedule started last
    history: list[FireRecordJSON]


class StateJSON(TypedDict):
    schema: int
    schedules: dict[str, ScheduleStateJSON]


def empty_state() -> StateJSON:
    return {"schema": SCHEMA, "schedules": {}}


class StateStore(Protocol):
    def load(self) -> StateJSON: ...

    def save(self, state: StateJSON) -> None: ...

    def acquire(self) -> None: ...

    def release(self) -> None: ...


class MemoryState:
    """State kept in memory (tests, and a scheduler that must not persist); `saves` counts writes."""

    def __init__(self, state: StateJSON | None = None) -> None:
        self.state: StateJSON = json.loads(json.dumps(state)) if state else empty_state()
        self.saves = 0

    def load(self) -> StateJSON:
        loaded: StateJSON = json.loads(json.dumps(self.state))
        return loaded

    def save(self, state: StateJSON) -> None:
        self.state = json.loads(json.dumps(state))
        self.saves += 1

    def acquire(self) -> None:
        return None

    def release(self) -> None:
        return None


class JsonStateFile:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock_fd: int | None = None

    def load(self) -> StateJSON:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return empty_state()
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise InvalidInput(
                f"the scheduler state is not valid JSON: {err.msg}",
                location=Location(file=str(self.path), line=err.lineno),
                hint="move the file away; the schedules then start afresh from now",
            ) from None
        if (
            not isinstance(data, dict)
            or data.get("schema") != SCHEMA
            or not isinstance(data.get("schedules"), dict)
        ):
            schema = data.get("schema") if isinstance(data, dict) else None
            raise InvalidInput(
                f"the scheduler state has an unknown shape (schema {schema!r})",
                location=Location(file=str(self.path)),
                hint="move the file away; the schedules then start afresh from now",
            )
        loaded: StateJSON = data  # type: ignore[assignment]
        return loaded

    def save(self, state: StateJSON) -> None:
        from retrain.registry.atomic import write_bytes

        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(self.path, (json.dumps(state, indent=2, sort_keys=True) + "\n").encode())

    def acquire(self) -> None:
        if self._lock_fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise Conflict(
                f"another scheduler is running with the state file {self.path}",
                location=Location(file=str(lock)),
                hint="run one `retrain serve` per RETRAIN_HOME, or give this one another home",
            ) from None
        self._lock_fd = fd

    def release(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None


def default_state_path(home: Path) -> Path:
    return home / "scheduler" / "state.json"
