"""The few ways the store itself ends a run, without the engine: cancelled before it started, refused by
its concurrency policy, or orphaned by an engine process that died. Each writes the coarse state, a Tekton
Succeeded=False condition in the status and an event, inside the caller's write transaction.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from retrain.runs.records import Contender, dump_json, to_iso, with_outcome

INTERRUPTED = "EngineInterrupted"
REFUSED = "Refused"
CANCELLED = "Cancelled"


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists and has not exited (a zombie awaiting its parent counts as exited)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it belongs to another user
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs: trust the signal
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def engine_gone(row: sqlite3.Row, is_alive: Callable[[int], bool]) -> bool:
    """An active run nobody will finish: its engine process died, or it is Running with no engine at all.
    A Pending run without an engine is only submitted, not orphaned."""
    pid: int | None = row["engine_pid"]
    if pid is None:
        return bool(row["state"] == "Running")
    return not is_alive(pid)


def finish(
    conn: sqlite3.Connection,
    row: sqlite3.Row,
    *,
    at: datetime,
    state: str,
    reason: str,
    message: str,
    event: str,
) -> None:
    status = with_outcome(json.loads(row["status"]), reason=reason, message=message, at=at)
    conn.execute(
        "UPDATE runs SET state = ?, reason = ?, status = ?, completed_at = COALESCE(completed_at, ?)"
        " WHERE name = ?",
        (state, reason, dump_json(status), to_iso(at), row["name"]),
    )
    add_event(conn, row["name"], at=at, type=event, reason=reason, message=message)


def cancel(conn: sqlite3.Connection, row: sqlite3.Row, mode: str, *, at: datetime) -> None:
    """Ask the engine to cancel; a Pending run that no engine was told to start ends Cancelled here."""
    conn.execute("UPDATE runs SET cancel_requested = ? WHERE name = ?", (mode, row["name"]))
    if row["state"] == "Pending" and not row["admitted"]:
        message = f'{row["kind"]} "{row["name"]}" was cancelled before it started'
        finish(conn, row, at=at, state="Cancelled", reason=CANCELLED, message=message, event="Normal")
    else:
        add_event(
            conn,
            row["name"],
            at=at,
            type="Normal",
            reason="CancelRequested",
            message=f"cancel requested ({mode})",
        )


def interrupt(conn: sqlite3.Connection, row: sqlite3.Row, *, at: datetime, when: str) -> None:
    """Fail a run whose engine is gone, and its unfinished task runs, with reason EngineInterrupted."""
    pid = row["engine_pid"]
    if pid is None:
        message = f"the run was Running but no engine process was recorded for it; {when}"
    else:
        message = f"the engine process {pid} stopped before the run finished; {when}"
    finish(conn, row, at=at, state="Failed", reason=INTERRUPTED, message=message, event="Warning")
    for tr in conn.execute(
        "SELECT seq, status FROM taskruns WHERE run_name = ? AND state IN ('Pending', 'Running')",
        (row["name"],),
    ).fetchall():
        status = with_outcome(json.loads(tr["status"]), reason=INTERRUPTED, message=message, at=at)
        conn.execute(
            "UPDATE taskruns SET state = 'Failed', reason = ?, status = ?,"
            " completed_at = COALESCE(completed_at, ?) WHERE seq = ?",
            (INTERRUPTED, dump_json(status), to_iso(at), tr["seq"]),
        )


def add_event(
    conn: sqlite3.Connection, run_name: str, *, at: datetime, type: str, reason: str, message: str
) -> None:
    conn.execute(
        "INSERT INTO events (run_name, at, type, reason, message) VALUES (?, ?, ?, ?, ?)",
        (run_name, to_iso(at), type, reason, message),
    )


def contender(row: sqlite3.Row) -> Contender:
    return Contender(
        name=row["name"],
        seq=row["seq"],
        state=row["state"],
        admitted=bool(row["admitted"]),
        cancel_requested=row["cancel_requested"] is not None,
    )


def outcome(row: sqlite3.Row) -> str:
    """`Failed: EngineInterrupted`, or just `Succeeded`, for messages."""
    return row["state"] if row["reason"] in (None, row["state"]) else f"{row['state']}: {row['reason']}"
