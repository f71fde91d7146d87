"""The run store's tables, and how the schema is brought up to date.

Migrations are numbered by their position in `MIGRATIONS`; `PRAGMA user_version` records how many ran. They
run inside one `BEGIN IMMEDIATE` transaction, so twenty processes opening a fresh home at once migrate it
exactly once. A database written by a newer retrain (a higher user_version) is refused, not guessed at.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from retrain.errors import Conflict

_V1 = (
    """
    CREATE TABLE runs (
        seq              INTEGER PRIMARY KEY AUTOINCREMENT,  -- creation order; tie-breaker for equal times
        name             TEXT NOT NULL UNIQUE,
        kind             TEXT NOT NULL CHECK (kind IN ('PipelineRun', 'TaskRun')),
        pipeline         TEXT,
        state            TEXT NOT NULL
                         CHECK (state IN ('Pending', 'Running', 'Succeeded', 'Failed', 'Cancelled')),
        reason           TEXT,
        created_at       TEXT NOT NULL,
        started_at       TEXT,
        completed_at     TEXT,
        manifest         TEXT NOT NULL,          -- JSON
        status           TEXT NOT NULL DEFAULT '{}',  -- JSON
        labels           TEXT NOT NULL DEFAULT '{}',  -- JSON object of strings
        concurrency_key  TEXT,
        admitted         INTEGER NOT NULL DEFAULT 0,  -- Pending, but told to start by admission
        engine_pid       INTEGER,
        cancel_requested TEXT
    )
    """,
    "CREATE INDEX runs_by_state ON runs (state)",
    "CREATE INDEX runs_by_key ON runs (concurrency_key, state)",
    "CREATE INDEX runs_by_created ON runs (created_at, seq)",
    """
    CREATE TABLE taskruns (
        seq           INTEGER PRIMARY KEY AUTOINCREMENT,
        run_name      TEXT NOT NULL REFERENCES runs (name) ON DELETE CASCADE,
        name          TEXT NOT NULL,
        retry         INTEGER NOT NULL DEFAULT 0,
        pipeline_task TEXT,
        state         TEXT NOT NULL
                      CHECK (state IN ('Pending', 'Running', 'Succeeded', 'Failed', 'Cancelled')),
        reason        TEXT,
        started_at    TEXT,
        completed_at  TEXT,
        status        TEXT NOT NULL DEFAULT '{}',  -- JSON
        results       TEXT NOT NULL DEFAULT '{}',  -- JSON
        UNIQUE (run_name, name, retry)
    )
    """,
    """
    CREATE TABLE events (
        seq      INTEGER PRIMARY KEY AUTOINCREMENT,
        run_name TEXT NOT NULL REFERENCES runs (name) ON DELETE CASCADE,
        at       TEXT NOT NULL,
        type     TEXT NOT NULL CHECK (type IN ('Normal', 'Warning')),
        reason   TEXT NOT NULL,
        message  TEXT NOT NULL
    )
    """,
    "CREATE INDEX events_by_run ON events (run_name, seq)",
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1,)
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, db_path: Path) -> None:
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()  # another process may have migrated
        if version > SCHEMA_VERSION:
            raise Conflict(
                f"{db_path} has run store schema v{version}, but this retrain knows only up to "
                f"v{SCHEMA_VERSION}",
                hint="upgrade retrain, or point RETRAIN_HOME at another directory",
            )
        for statements in MIGRATIONS[version:]:
            for statement in statements:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
