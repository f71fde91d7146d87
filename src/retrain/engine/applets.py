"""Busybox's applets for containers of alpine and busybox images.

In those images `ash`, `mkfifo`, `wget`, ... are busybox applets, so a script starting `#!/usr/bin/env ash`
is common. This host has busybox (`/usr/bin/busybox`) but not its applet links; a container of such an image
gets a directory of `<applet> -> busybox` links for the applets the host lacks (`ash`, `nc`, ...) at
`APPLETS_TARGET`, appended to PATH after the host's own commands. The links are made once per run store (by
the first step that needs them, in `<home>/runs/`) and bound read-only into each such container under bwrap.
Any other image gets nothing.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from retrain.engine.sandbox import STANDARD_PATH, Mount

__all__ = ["APPLETS_TARGET", "applets_mount", "busybox_family", "with_applets"]

APPLETS_TARGET = "/.retrain/busybox"
_FAMILY = ("alpine", "busybox")


def busybox_family(image: str | None) -> bool:
    """Whether the image's userland is busybox: alpine, busybox, alpine/git, and alpine-based names."""
    if not image:
        return False
    name, tag = image.split("@", 1)[0], ""
    if ":" in name.rsplit("/", 1)[-1]:
        name, tag = name.rsplit(":", 1)  # the tag, not a registry's port
    if tag == "alpine" or "-alpine" in tag:  # python:3.12-alpine, nginx:alpine
        return True
    parts = name.split("/")
    if parts[-2:] == ["alpine", "git"]:
        return True
    last = parts[-1]
    return last in _FAMILY or last.startswith("alpine-")


@functools.cache
def _applets() -> tuple[str, tuple[str, ...]] | None:
    """(busybox path, the applets this host lacks); None when it has no busybox. Asked once per process."""
    busybox = shutil.which("busybox")
    if busybox is None:
        return None
    try:
        listed = subprocess.run([busybox, "--list"], capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    host_dirs = STANDARD_PATH.split(":")
    # The host's commands come first on PATH anyway: only what it lacks (ash, nc, ...) needs a link.
    names = tuple(
        n
        for n in listed.stdout.split()
        if n and "/" not in n and not any(os.path.lexists(f"{d}/{n}") for d in host_dirs)
    )
    return os.path.realpath(busybox), names


def applets_mount(run_dir: Path, image: str | None) -> Mount | None:
    """The applet directory to show a container of `image`, or None (not a busybox image, no busybox)."""
    if not busybox_family(image):
        return None
    found = _applets()
    if found is None:
        return None
    busybox, names = found
    # One directory for every run of this run store (`<home>/runs/.busybox-applets-<digest>`): on a slow disk
    # its 85 links cost more than many steps (about 0.6 ms each here). The digest names busybox and the
    # applets, so a different busybox gets its own directory rather than stale links.
    digest = hashlib.sha256("\0".join((busybox, *names)).encode()).hexdigest()[:12]
    return Mount(
        run_dir.parent / f".busybox-applets-{digest}",
        APPLETS_TARGET,
        read_only=True,
        on_path=True,
        links=names,
        link_to=busybox,
    )


def with_applets(mounts: Sequence[Mount], run_dir: Path, image: str | None) -> Sequence[Mount]:
    """A step's mounts, plus the applet directory when its image is a busybox one."""
    applets = applets_mount(run_dir, image)
    return mounts if applets is None else [*mounts, applets]
