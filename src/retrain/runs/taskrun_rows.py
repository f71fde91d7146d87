"""A run's task runs (every retry its own row) and events in the run store (RunStore.upsert_taskrun,
taskruns, add_event and events)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime

from retrain.runs import lifecycle
from retrain.runs.db import Database
from retrain.runs.records import (
    EVENT_TYPES,
    RUN_STATES,
    EventRecord,
    TaskRunRecord,
    dump_json,
    event_from_row,
    status_time,
    taskrun_from_row,
    to_iso,
)
from retrain.runs.rows import check_choice, run_row


def upsert_taskrun(db: Database, rec: TaskRunRecord) -> None:
    check_choice(rec.state, RUN_STATES, "state")
    started = rec.started_at or status_time(rec.status, "startTime")
    completed = rec.completed_at or status_time(rec.status, "completionTime")
    values = (
        rec.run_name,
        rec.name,
        rec.retry,
        rec.pipeline_task,
        rec.state,
        rec.reason,
        None if started is None else to_iso(started),
        None if completed is None else to_iso(completed),
        dump_json(rec.status),
        dump_json(rec.results),
    )
    with db.statement() as conn:
        try:
            conn.execute(
                "INSERT INTO taskruns (run_name, name, retry, pipeline_task, state, reason, started_at,"
                " completed_at, status, results) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (run_name, name, retry) DO UPDATE SET"
                " pipeline_task = excluded.pipeline_task, state = excluded.state,"
                " reason = excluded.reason, started_at = excluded.started_at,"
                " completed_at = excluded.completed_at, status = excluded.status,"
                " results = excluded.results",
                values,
            )
        except sqlite3.IntegrityError:
            run_row(conn, rec.run_name, db.path)  # raises NotFound with suggestions
            raise


def taskruns(db: Database, run_name: str) -> list[TaskRunRecord]:
    with db.read() as conn:
        rows = conn.execute(
            "SELECT * FROM taskruns WHERE run_name = ? ORDER BY started_at IS NULL, started_at, seq",
            (run_name,),
        ).fetchall()
        if not rows:
            run_row(conn, run_name, db.path)
    return [taskrun_from_row(row) for row in rows]


def add_event(
    db: Database, run_name: str, type: str, reason: str, message: str, *, clock: Callable[[], datetime]
) -> None:
    check_choice(type, EVENT_TYPES, "event type")
    with db.statement() as conn:
        try:
            lifecycle.add_event(conn, run_name, at=clock(), type=type, reason=reason, message=message)
        except sqlite3.IntegrityError:
            run_row(conn, run_name, db.path)
            raise


def events(db: Database, run_name: str) -> list[EventRecord]:
    with db.read() as conn:
        rows = conn.execute("SELECT * FROM events WHERE run_name = ? ORDER BY seq", (run_name,)).fetchall()
        if not rows:
            run_row(conn, run_name, db.path)
    return [event_from_row(row) for row in rows]
