"""Crash-safe file writes: a reader sees the old file or the new one, never a part of either.

Each write goes to a temporary file in the same directory (so the rename never crosses file systems), is
flushed to disk with fsync, renamed over the target, and then the directory itself is fsynced so the rename
survives a power cut. Temporary names start with `.tmp-`, which every reader ignores and every locked writer
may delete as left-overs of a killed process.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from retrain.registry.layout import TMP_PREFIX

CHUNK = 1 << 20


@functools.cache
def _file_mode() -> int:
    # mkstemp creates 0600 files; served models must be readable by a server running as another user.
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _temp_file(directory: Path, name: str) -> Iterator[tuple[BinaryIO, Path]]:
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f"{TMP_PREFIX}{name}.")
    tmp_path = Path(tmp)
    try:
        os.fchmod(fd, _file_mode())
        with os.fdopen(fd, "wb") as handle:
            yield handle, tmp_path
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_bytes(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically and durably."""
    with _temp_file(path.parent, path.name) as (handle, tmp):
        handle.write(data)
    tmp.replace(path)
    fsync_dir(path.parent)


def stage_copy(source: Path, target: Path) -> tuple[Path, str, int]:
    """First half of an atomic copy: copy `source` to a durable temporary file beside `target`.

    Returns the temporary path and the sha256 and size of the bytes written, so the caller can check them
    before `install` makes the copy visible (or `discard` drops it).
    """
    digest = hashlib.sha256()
    size = 0
    with _temp_file(target.parent, target.name) as (handle, tmp), source.open("rb") as src:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            handle.write(chunk)
    return tmp, digest.hexdigest(), size


def install(staged: Path, target: Path) -> None:
    """Second half of an atomic copy: rename the staged file over `target`, durably."""
    staged.replace(target)
    fsync_dir(target.parent)


def discard(staged: Path) -> None:
    staged.unlink(missing_ok=True)


def write_new_file(path: Path, data: bytes) -> None:
    """Write a file in a scratch directory readers cannot see yet (see `private_dir`): fsync, no rename."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _file_mode())
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def copy_new_file(source: Path, target: Path) -> tuple[str, int]:
    """Like `write_new_file` for a copy; return the sha256 and size of the bytes written."""
    digest = hashlib.sha256()
    size = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _file_mode())
    with os.fdopen(fd, "wb") as handle, source.open("rb") as src:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            handle.write(chunk)
        handle.flush()
        os.fsync(handle.fileno())
    return digest.hexdigest(), size


def private_dir(parent: Path) -> Path:
    """A new scratch directory under `parent`, invisible to readers until `publish_dir` renames it."""
    path = Path(tempfile.mkdtemp(dir=parent, prefix=TMP_PREFIX))
    path.chmod(_file_mode() | 0o111)
    return path


def publish_dir(scratch: Path, target: Path) -> None:
    """Make a complete scratch directory visible under its final name, durably."""
    fsync_dir(scratch)
    # rename(2) refuses to replace a non-empty directory, so a lost race can never hide a published version.
    scratch.rename(target)
    fsync_dir(target.parent)


def remove_dir(target: Path) -> None:
    """Remove a directory so that readers see it whole or not at all: rename it away first, then delete."""
    hidden = Path(tempfile.mkdtemp(dir=target.parent, prefix=f"{TMP_PREFIX}del-"))
    moved = hidden / target.name
    target.rename(moved)
    fsync_dir(target.parent)
    shutil.rmtree(hidden)


def append_line(path: Path, line: str) -> None:
    """Append one line durably. A line torn by an earlier crash is ended first, so the new one stays whole."""
    data = line.rstrip("\n").encode() + b"\n"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, _file_mode())
    try:
        end = os.lseek(fd, 0, os.SEEK_END)
        if end > 0 and os.pread(fd, 1, end - 1) != b"\n":
            data = b"\n" + data
        written = 0
        while written < len(data):
            written += os.write(fd, data[written:])
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_scratch(directory: Path) -> list[Path]:
    """Delete `.tmp-*` entries a killed writer left in `directory`. Call only while holding the model lock."""
    removed: list[Path] = []
    if not directory.is_dir():
        return removed
    for entry in directory.iterdir():
        if not entry.name.startswith(TMP_PREFIX):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed
