"""Where the gate's and the drift checks' reports are kept, so the dashboard can show them later.

Beside the model in the registry, never inside a version's directory (its files and digest stay exactly
as registered):

    <root>/<model>/gate/<version>.json      the latest gate report of that version (a recheck replaces it)
    <root>/<model>/drift/<checked_at>.json  one drift report per check, named by its time (UTC, sortable)

Every file is written to a temporary name and renamed, so a reader sees a whole report or none. The drift
directory keeps the newest `DRIFT_KEEP` reports. Reading skips a damaged file with a warning: one bad file
must not hide the others.
"""

from __future__ import annotations

import json
import logging
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

GATE_DIR = "gate"
DRIFT_DIR = "drift"
DRIFT_KEEP = 500
_DRIFT_NAME = re.compile(r"^\d{8}T\d{6}\.\d{6}Z\.json$")


def _write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".tmp-{path.name}.{os.getpid()}")
    with scratch.open("w", encoding="utf-8") as out:
        out.write(json.dumps(data, indent=2, allow_nan=False) + "\n")
        out.flush()
        os.fsync(out.fileno())
    scratch.replace(path)
    return path


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        log.warning("report %s cannot be read, skipped: %s", path, err)
        return None
    return data if isinstance(data, dict) else None


def gate_report_path(root: Path, model: str, version: int) -> Path:
    return root / model / GATE_DIR / f"{version}.json"


def save_gate_report(root: Path, model: str, version: int, report: dict[str, Any]) -> Path:
    return _write(gate_report_path(root, model, version), report)


def load_gate_report(root: Path, model: str, version: int) -> dict[str, Any] | None:
    """The stored gate report of the version, or None when it was never gated since reports were kept."""
    return _read(gate_report_path(root, model, version))


def drift_report_name(checked_at: datetime) -> str:
    return checked_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ") + ".json"


def save_drift_report(root: Path, model: str, checked_at: datetime, report: dict[str, Any]) -> Path:
    """Keep one drift report; the oldest beyond `DRIFT_KEEP` are deleted."""
    path = _write(root / model / DRIFT_DIR / drift_report_name(checked_at), report)
    names = _drift_names(root, model)
    for old in names[:-DRIFT_KEEP]:
        (root / model / DRIFT_DIR / old).unlink(missing_ok=True)
    return path


def _drift_names(root: Path, model: str) -> list[str]:
    try:
        return sorted(p.name for p in (root / model / DRIFT_DIR).iterdir() if _DRIFT_NAME.match(p.name))
    except FileNotFoundError:
        return []


def load_drift_reports(root: Path, model: str, limit: int = 200) -> list[dict[str, Any]]:
    """The newest `limit` drift reports of the model, oldest first."""
    out = []
    for name in _drift_names(root, model)[-limit:]:
        data = _read(root / model / DRIFT_DIR / name)
        if data is not None:
            out.append(data)
    return out
