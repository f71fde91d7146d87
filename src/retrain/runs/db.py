"""The run store's database connection: WAL, busy timeout, one connection per process, writes serialized.

Each Database holds one sqlite3 connection, shared by the process's threads under a lock (sqlite3 objects
are not thread-safe) and reopened after a fork (SQLite forbids using a connection across fork()). Several
processes (`retrain run` started twice at once, the API server, the CLI) share the file: every write is
either a single statement or a `BEGIN IMMEDIATE` transaction, taken under an exclusive lock file, so a
writer waits its turn instead of failing with "database is locked".
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from retrain.errors import TemporaryError
from retrain.runs.schema import migrate

try:
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - not on POSIX
    _fcntl = None  # type: ignore[assignment]

# Long enough that a burst of writers never sees "database is locked": every write transaction is short
# (well under a millisecond), so a waiter only ever queues behind a handful of them.
BUSY_TIMEOUT_S = 60.0


class Database:
    """The process's connection to one run store database, for reads, single-statement writes and write
    transactions."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._pid = os.getpid()
        self._writer = WriterLock(path.with_name(path.name + ".lock"))
        try:
            with self._writer.held():  # a fresh database is set up by one process at a time
                self._conn: sqlite3.Connection | None = connect(path)
        except BaseException:
            self._writer.close()
            raise
        # Connections inherited through fork() must never be used or closed by the child (SQLite's rule);
        # they are kept here so that garbage collection does not close them either.
        self._inherited: list[sqlite3.Connection] = []

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
                self._writer.close()
            self._conn = None

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """The connection, for reads (each statement its own transaction)."""
        if os.getpid() != self._pid:
            self._reopen_after_fork()
        with self._lock:
            if self._conn is None:
                raise RuntimeError(f"the run store at {self.path} is closed")
            yield self._conn

    @contextmanager
    def statement(self) -> Iterator[sqlite3.Connection]:
        """The connection, for one writing statement (atomic on its own), under the writer lock."""
        with self.read() as conn, self._writer.held():
            yield conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction taken up front (BEGIN IMMEDIATE): a deferred one that reads and then writes
        can fail at once with "database is locked" in WAL mode, whatever the busy timeout."""
        with self.statement() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _reopen_after_fork(self) -> None:
        self._lock = threading.RLock()
        self._pid = os.getpid()
        if self._conn is not None:
            self._inherited.append(self._conn)
            self._writer.reopen()
            with self._writer.held():
                self._conn = connect(self.path)


class WriterLock:
    """An exclusive lock file next to the database (`retrain.db.lock`), held around every write.

    SQLite alone makes a blocked writer sleep and retry (1, 2, 5 ... 100 ms); under a burst of writers the
    sleepers keep losing to the others: with 40 processes writing flat out on 2 CPUs, single status updates
    waited up to 5 s. Waiting in the kernel on flock() instead lets the next writer in as soon as the lock
    is free (worst wait 0.85 s in the same test, every process slower by a third in total).
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
