"""Which webhook deliveries were already handled, kept on disk so that a restart does not replay them.

GitHub retries and redelivers with the same `X-GitHub-Delivery` id; Alertmanager re-sends a firing alert
every `repeat_interval` with the same fingerprint and `startsAt`. A key is *claimed* before the receiver acts
(one atomic INSERT, so of two identical deliveries arriving together exactly one goes on, across processes
too) and *released* when nothing was started for it (refused by a concurrency policy, the service stopping),
so that a later redelivery may try again.

The table lives in its own small SQLite file (`<RETRAIN_HOME>/deliveries.db`), not in the run store's
schema. Memory stays bounded (nothing is cached) and so does the file: keys older than `retention` are
dropped, and at most `capacity` keys are kept (the oldest go first).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Self

DEFAULT_RETENTION = timedelta(days=7)
DEFAULT_CAPACITY = 100_000
_PRUNE_EVERY = 500  # claims between two prunes


def _utcnow() -> datetime:
    return datetime.now(UTC)


class DeliveryLog:
    def __init__(
        self,
        path: Path,
        *,
        retention: timedelta = DEFAULT_RETENTION,
        capacity: int = DEFAULT_CAPACITY,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._retention = retention
        self._capacity = capacity
        self._clock = clock
        self._lock = threading.Lock()
        self._claims = 0
        self._conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS deliveries ("
            " seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, at TEXT NOT NULL,"
            " outcome TEXT NOT NULL DEFAULT '')"
        )
        self.prune()

    def claim(self, key: str) -> bool:
        """True when `key` was new (and is now taken), False when it was already handled."""
        with self._lock:
            inserted = self._conn.execute(
                "INSERT OR IGNORE INTO deliveries (key, at) VALUES (?, ?)", (key, self._stamp())
            ).rowcount
            self._claims += 1
            due = self._claims % _PRUNE_EVERY == 0
        if due:
            self.prune()
        return inserted == 1

    def release(self, key: str) -> None:
        """Forget `key`, so that the same delivery may be handled again later."""
        with self._lock:
            self._conn.execute("DELETE FROM deliveries WHERE key = ?", (key,))

    def record(self, key: str, outcome: str) -> None:
        """Note what a claimed delivery led to (shown by `seen`, useful when reading the file by hand)."""
        with self._lock:
            self._conn.execute("UPDATE deliveries SET outcome = ? WHERE key = ?", (outcome[:500], key))

    def seen(self, key: str) -> str | None:
        """The outcome recorded for `key` ('' while it is being handled), or None when unknown."""
        with self._lock:
            row = self._conn.execute("SELECT outcome FROM deliveries WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def prune(self) -> int:
        """Drop keys past the retention and beyond the capacity; returns how many went."""
        cutoff = (self._clock() - self._retention).astimezone(UTC).isoformat()
        with self._lock:
            gone = self._conn.execute("DELETE FROM deliveries WHERE at < ?", (cutoff,)).rowcount
            gone += self._conn.execute(
                "DELETE FROM deliveries WHERE seq NOT IN"
                " (SELECT seq FROM deliveries ORDER BY seq DESC LIMIT ?)",
                (self._capacity,),
            ).rowcount
        return gone

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()
        return int(count)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _stamp(self) -> str:
        return self._clock().astimezone(UTC).isoformat()
