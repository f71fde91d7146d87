"""Scratch directories of the processes that produce versions, kept beside the registry and swept when dead.

A training run needs room for its MODEL_DIR, the data it hands to the notebook, the kernel's connection
file and the executed notebook. That room lives under `<root>/.staging/` (or a directory the caller names),
not in /tmp, so a run killed with SIGKILL leaves nothing behind for good: every new scratch directory first
sweeps the ones whose owner is gone.

Whether an owner is alive is decided by a lock, not by a process id: the owner holds `flock` on
`<scratch>/.owner` for as long as it lives, and the kernel drops that lock when the process dies, however it
dies. Process ids would mislead here: pipeline steps run in their own PID namespaces (bubblewrap), and pods
sharing a volume run on other machines. `.owner` also names the pid, host and start time, for people.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

STAGING = ".staging"
OWNER = ".owner"
# A directory without `.owner` younger than this may be between mkdtemp and its owner's lock: left alone.
GRACE_S = 60.0


def staging_dir(root: Path) -> Path:
    """Where the scratch directories of writers of the registry at `root` live."""
    return Path(root) / STAGING


def _owner_alive(directory: Path, now: float) -> bool:
    try:
        fd = os.open(directory / OWNER, os.O_RDWR)
    except FileNotFoundError:
        # `.owner` appears only once locked (see scratch_dir): without it the directory is either being
        # made right now or its maker died before locking it; the grace period tells the two apart.
        try:
            return now - directory.stat().st_mtime < GRACE_S
        except FileNotFoundError:
            return True  # gone already
    except OSError:
        return True  # cannot tell: never delete what may be in use
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # BlockingIOError: the owner holds it
        return True
    finally:
        os.close(fd)  # closing drops a lock we may have taken
    return False


def sweep(parent: Path, prefix: str = "", *, now: float | None = None) -> list[Path]:
    """Remove the scratch directories under `parent` (named `prefix*`) whose owner is dead; return them."""
    moment = time.time() if now is None else now
    removed: list[Path] = []
    try:
        entries = sorted(parent.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        if not entry.name.startswith(prefix) or not entry.is_dir() or entry.is_symlink():
            continue
        if _owner_alive(entry, moment):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


@contextlib.contextmanager
def scratch_dir(parent: Path, prefix: str) -> Iterator[Path]:
    """A new directory `parent/prefix*` owned by this process for the block, removed when it ends.

    Stale directories of dead owners with the same prefix are swept first. A process killed with SIGKILL
    cannot remove its own directory; the next call's sweep does.
    """
    parent.mkdir(parents=True, exist_ok=True)
    sweep(parent, prefix)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    fd = os.open(path / f"{OWNER}.new", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # held until this process ends or the block does
        record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        os.write(fd, (json.dumps(record) + "\n").encode())
        # Published under its name only once locked: a sweep that finds `.owner` unlocked knows its
        # owner is dead, with no window in which a live owner's file is not yet locked.
        (path / f"{OWNER}.new").rename(path / OWNER)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(fd)
