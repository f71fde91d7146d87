"""Who and when, as the audit log and metadata record them."""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Mapping
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """UTC ISO 8601 with milliseconds and a Z, e.g. 2025-01-31T12:00:00.000Z (naive times count as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def default_actor(environ: Mapping[str, str] | None = None) -> str:
    """$RETRAIN_ACTOR, else user@host: who is recorded in the audit log."""
    env = os.environ if environ is None else environ
    if env.get("RETRAIN_ACTOR"):
        return env["RETRAIN_ACTOR"]
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no passwd entry, as in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"
