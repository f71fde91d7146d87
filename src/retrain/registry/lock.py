"""The per-model lock: one writer at a time per model, across processes and machines sharing a volume.

`fcntl.flock` on `<root>/<model>/.lock`. The kernel drops the lock when its holder dies, so a killed writer
never leaves the model locked. On NFS, Linux emulates flock with POSIX byte-range locks, which the server
arbitrates, so the lock also holds between pods that mount the same volume.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from retrain.errors import TemporaryError

DEFAULT_TIMEOUT_S = 60.0


@contextlib.contextmanager
def model_lock(
    path: Path,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """Hold the exclusive lock on `path` for the duration of the block.

    Raises TemporaryError when another process keeps it longer than `timeout_s`.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = monotonic() + timeout_s
        delay = 0.001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if monotonic() >= deadline:
                    raise TemporaryError(
                        f"the registry lock {path} is held by another process for more than {timeout_s:g} s",
                        retry_after_s=min(timeout_s, 5.0),
                        hint="another register/promote/rollback/prune of this model is running; "
                        "try again when it has finished",
                    ) from None
                sleep(delay)
                delay = min(delay * 2, 0.05)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
