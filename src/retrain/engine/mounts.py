"""Where a TaskRun try's container paths live on the host, recorded next to the try.

A step in the sandbox sees `/workspace/<ws>`, `/tekton/results`, ... and its log lines name those paths. A
report about a failure should name the host directories instead, so each try writes its mount table to
`<run dir>/taskruns/<taskrun>/attempt-<n>/mounts.json`, and `host_view` rewrites a log line with it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from retrain.engine.sandbox import Mount

MOUNTS_FILE = "mounts.json"


def attempt_dir(run_dir: Path, taskrun: str, retry: int) -> Path:
    return run_dir / "taskruns" / taskrun / f"attempt-{retry}"


def write_mounts(root: Path, mounts: Sequence[Mount]) -> None:
    table = [{"target": m.target, "host": str(m.host.absolute())} for m in mounts]
    (root / MOUNTS_FILE).write_text(json.dumps(table, indent=1))


def read_mounts(root: Path) -> tuple[Mount, ...]:
    """The mount table of one try; empty when none was recorded (an older run, a try that never began)."""
    try:
        table = json.loads((root / MOUNTS_FILE).read_text())
    except (OSError, ValueError):
        return ()
    if not isinstance(table, list):
        return ()
    return tuple(
        Mount(Path(entry["host"]), entry["target"])
        for entry in table
        if isinstance(entry, dict)
        and isinstance(entry.get("host"), str)
        and isinstance(entry.get("target"), str)
    )


class HostView:
    """Rewrites the container paths in a text to the host paths they were bound to (longest mount first)."""

    def __init__(self, mounts: Sequence[Mount]) -> None:
        self._hosts = {m.target.rstrip("/") or "/": str(m.host) for m in mounts if m.target.startswith("/")}
        targets = sorted((t for t in self._hosts if t != "/"), key=len, reverse=True)
        # Whole path components only: /workspace matches neither /workspaces nor a/workspace.
        self._pattern = (
            re.compile(r"(?<![\w.\-/])(" + "|".join(map(re.escape, targets)) + r")(?![\w.\-])")
            if targets
            else None
        )

    def __call__(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self._hosts[m.group(1)], text)
