"""The run store's tables, and how a connection is opened and the schema brought up to date.

Migrations are numbered by their position in `MIGRATIONS`; `PRAGMA user_version` records how many ran. They
run inside one `BEGIN IMMEDIATE` transaction, so twenty processes opening a fresh home at once migrate it
exactly once. A database written by a newer retrain (a higher user_version) is refused, not guessed at.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from retrain.errors import Conflict, TemporaryError

try:
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - not on POSIX
    _fcntl = None  # type: ignore[assignment]

# Long enough that a burst of writers never sees "database is locked": every write transaction is short
# (well under a millisecond), so a waiter only ever queues behind a handful of them.
BUSY_TIMEOUT_S = 60.0

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


class WriterLock:
    """An exclusive lock file next to the database (`retrain.db.lock`), held around every write.

    SQLite alone makes a blocked writer sleep and retry (1, 2, 5 ... 100 ms); under a burst of writers the
    sleepers keep losing to the others, and we measured single status updates waiting 20 s with 40 busy
    processes. Waiting in the kernel on flock() instead lets the next writer in as soon as the lock is free.
    Without fcntl (Windows) it does nothing and SQLite's busy timeout alone applies.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # close-on-exec: steps do not inherit it

    def reopen(self) -> None:
        """After fork(): the inherited descriptor shares the parent's lock, so it would not exclude it."""
        os.close(self._fd)
        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)

    @contextmanager
    def held(self) -> Iterator[None]:
        if _fcntl is None:
            yield
            return
        _fcntl.flock(self._fd, _fcntl.LOCK_EX)
        try:
            yield
        finally:
            _fcntl.flock(self._fd, _fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def connect(db_path: Path) -> sqlite3.Connection:
    """Open the database in autocommit mode (we issue BEGIN IMMEDIATE ourselves), WAL, and migrate it."""
    conn = sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        _use_wal(conn, db_path)
        # NORMAL is durable across process crashes in WAL mode, and makes a commit cost microseconds instead
        # of an fsync; a power cut may lose the last few status updates, never consistency.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn, db_path)
    except BaseException:
        conn.close()
        raise
    return conn


def _use_wal(conn: sqlite3.Connection, db_path: Path) -> None:
    """Switch the file to WAL (once; the mode is stored in the file).

    The switch needs an exclusive lock and SQLite does not wait for it on the busy handler: when several
    processes open a fresh database at the same moment, all but one get "database is locked" at once. So
    we check first (the common case: already WAL) and retry the switch with a short backoff.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    delay = 0.001
    while True:
        try:
            (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
            if mode.lower() == "wal":
                return
            (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            if mode.lower() == "wal":
                return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
        if time.monotonic() > deadline:
            raise TemporaryError(
                f"could not switch {db_path} to write-ahead logging (WAL): it stayed locked or its file "
                "system does not support WAL",
                retry_after_s=1.0,
                hint="put RETRAIN_HOME on a local disk",
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


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
