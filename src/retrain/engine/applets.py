"""Busybox's applets for containers of alpine and busybox images.

In those images `ash`, `mkfifo`, `wget`, ... are busybox applets, so a script starting `#!/usr/bin/env ash`
is common. This host has busybox (`/usr/bin/busybox`) but not its applet links; for a container of such an
image the engine makes a directory of `<applet> -> busybox` links (once per run, inside the run's own
directory) and shows it at `APPLETS_TARGET`, appended to PATH: the host's own commands come first, so only
what the host lacks (`ash`, ...) is busybox's. Any other image gets nothing: no cost for it.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from retrain.engine.sandbox import Mount

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
    """(busybox path, its applet names); None when this host has no busybox. Asked once per process."""
    busybox = shutil.which("busybox")
    if busybox is None:
        return None
    try:
        listed = subprocess.run([busybox, "--list"], capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    names = tuple(n for n in listed.stdout.split() if n and "/" not in n)
    return os.path.realpath(busybox), names


def applets_mount(run_dir: Path, image: str | None) -> Mount | None:
    """The applet directory to show a container of `image`, or None (not a busybox image, no busybox)."""
    if not busybox_family(image):
        return None
    found = _applets()
    if found is None:
        return None
    busybox, names = found
    directory = run_dir / "busybox-applets"
    if not (directory / "ash").is_symlink():
        directory.mkdir(parents=True, exist_ok=True)
        for name in names:
            link = directory / name
            if not link.is_symlink():
                link.symlink_to(busybox)
    return Mount(directory, APPLETS_TARGET, read_only=True, on_path=True)


def with_applets(mounts: Sequence[Mount], run_dir: Path, image: str | None) -> Sequence[Mount]:
    """A step's mounts, plus the applet directory when its image is a busybox one."""
    applets = applets_mount(run_dir, image)
    return mounts if applets is None else [*mounts, applets]
