"""Where a running `retrain serve` listens: the record it keeps in $RETRAIN_HOME, and finding it again.

`retrain serve` writes `<home>/serve.json` once it is actually listening (the real bound port, also when it
was asked for port 0) and removes it on a clean stop. `retrain trigger`, `deploy`, `verify` and `rollback`
call `discover` when no `--serving-url` is given. A record counts only when its process is alive (its pid
AND that process's start time, so a pid reused by another program does not count) and its URL answers
`/v2/health/live`; otherwise the result says why it was not used ("stale: pid 123 is gone"), so a caller
can tell the user instead of silently doing something else.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TypedDict

RECORD_NAME = "serve.json"
PROBE_PATH = "/v2/health/live"
PROBE_TIMEOUT_S = 1.0

DiscoveryState = Literal["found", "none", "stale"]


class EndpointJSON(TypedDict):
    url: str
    pid: int
    process_start: int | None
    registry: str
    home: str
    started_at: str


@dataclass(frozen=True)
class Endpoint:
    """A `retrain serve` process and the URL it listens on. `process_start` is the kernel's start time of
    the process (clock ticks since boot; None where the platform does not tell), which tells a reused pid
    apart."""

    url: str
    pid: int
    process_start: int | None
    registry: Path
    home: Path
    started_at: str

    def to_json(self) -> EndpointJSON:
        return {
            "url": self.url,
            "pid": self.pid,
            "process_start": self.process_start,
            "registry": str(self.registry),
            "home": str(self.home),
            "started_at": self.started_at,
        }


@dataclass(frozen=True)
class Discovery:
    """What `discover` found: `endpoint` only when `state` is "found"; `reason` says why in either case."""

    state: DiscoveryState
    reason: str
    record: Path
    endpoint: Endpoint | None = None


def record_path(home: Path) -> Path:
    return home.expanduser() / RECORD_NAME


def process_start(pid: int) -> int | None:
    """The start time of process `pid` (clock ticks since boot) from /proc, or None when /proc does not
    know it (no such process, a zombie, or not Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    if not fields or fields[0] in ("Z", "X"):  # a zombie or a dead process is not a server
        return None
    return int(fields[19])  # field 22 of the whole line: starttime


def this_process(url: str, *, registry: Path, home: Path, now: datetime | None = None) -> Endpoint:
    """The record of the calling process listening on `url`."""
    pid = os.getpid()
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return Endpoint(url, pid, process_start(pid), registry, home, moment.isoformat(timespec="seconds"))


def write_endpoint(endpoint: Endpoint) -> Path:
    """Write the record atomically (temp file, fsync, rename): a reader never sees half of it."""
    from retrain.registry.atomic import write_bytes

    path = record_path(endpoint.home)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, (json.dumps(endpoint.to_json(), indent=2) + "\n").encode())
    return path


def remove_endpoint(endpoint: Endpoint) -> bool:
    """Remove the record if it is still `endpoint`'s: another server started later on the same home may
    have replaced it, and its record must stay."""
    path = record_path(endpoint.home)
    current = read_endpoint(path)
    if not isinstance(current, Endpoint) or (current.pid, current.process_start) != (
        endpoint.pid,
        endpoint.process_start,
    ):
        return False
    path.unlink(missing_ok=True)
    return True


def read_endpoint(path: Path) -> Endpoint | str | None:
    """The record at `path`; None when there is none; a reason (str) when it is not a valid record."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        return f"{path} is not a readable endpoint record ({exc})"
    try:
        start = data["process_start"]
        return Endpoint(
            url=str(data["url"]),
            pid=int(data["pid"]),
            process_start=None if start is None else int(start),
            registry=Path(data["registry"]),
            home=Path(data["home"]),
            started_at=str(data["started_at"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        return f"{path} is not a valid endpoint record (field {exc} missing or wrong)"


Probe = Callable[[str, float], str | None]  # (url, timeout) -> None when live, else why not


def probe_live(url: str, timeout_s: float) -> str | None:
    """GET <url>/v2/health/live: None when it answers 200, else what happened."""
    import httpx

    try:
        answer = httpx.get(url.rstrip("/") + PROBE_PATH, timeout=timeout_s)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return None if answer.status_code == 200 else f"it answered {answer.status_code}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        return True
    return True


def discover(home: Path, *, timeout_s: float = PROBE_TIMEOUT_S, probe: Probe = probe_live) -> Discovery:
    """The `retrain serve` recorded in `home`, if it is alive and answers; else why none is used."""
    path = record_path(home)
    found = read_endpoint(path)
    if found is None:
        return Discovery("none", f"no running `retrain serve` has recorded itself in {path}", path)
    if isinstance(found, str):
        return Discovery("stale", f"stale: {found}", path)
    pid = found.pid
    if not pid_alive(pid):
        return Discovery("stale", f"stale: pid {pid} is gone (record {path})", path)
    now_start = process_start(pid)
    if found.process_start is not None and now_start != found.process_start:
        what = "has exited" if now_start is None else "now belongs to another process"
        return Discovery("stale", f"stale: pid {pid} {what} (record {path})", path)
    failure = probe(found.url, timeout_s)
    if failure is not None:
        return Discovery(
            "stale", f"stale: {found.url}{PROBE_PATH} does not answer: {failure} (pid {pid})", path
        )
    reason = f"found `retrain serve` (pid {pid}) at {found.url}, registry {found.registry}"
    return Discovery("found", reason, path, found)


def discover_endpoint(home: Path, *, timeout_s: float = PROBE_TIMEOUT_S) -> Endpoint | None:
    """The live endpoint recorded in `home`, or None (see `discover` for the reason)."""
    return discover(home, timeout_s=timeout_s).endpoint


def client_url(host: str, port: int) -> str:
    """The URL a client on this machine uses for a server bound to `host`: a wildcard bind answers on the
    loopback address; an IPv6 literal gets its brackets."""
    if host in ("", "0.0.0.0"):  # noqa: S104 - comparing, not binding
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
