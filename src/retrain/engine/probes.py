"""A sidecar's startup and readiness probes, as the kubelet runs them.

Kubernetes' Probe: one handler (`exec`, `tcpSocket` or `httpGet`; `grpc` is refused at creation) and its
timing: the first try `initialDelaySeconds` after the container started, then one every `periodSeconds`
(default 10), each try failing after `timeoutSeconds` (default 1). A startup probe that fails
`failureThreshold` times in a row (default 3) kills the container; a readiness probe keeps trying, and the
container is Ready after `successThreshold` successes in a row (default 1). The pod's IP is this machine's
loopback: a pod's containers share one network namespace, and locally that is the host's.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from retrain.errors import InvalidInput, Location

__all__ = ["Probe", "ProbeResult", "parse_probe", "probe_once"]

LOOPBACK = "127.0.0.1"
_HANDLERS = ("exec", "tcpSocket", "httpGet")
_TIMINGS = {  # field -> (default, minimum), as Kubernetes defaults and validates them
    "initialDelaySeconds": (0, 0),
    "periodSeconds": (10, 1),
    "timeoutSeconds": (1, 1),
    "successThreshold": (1, 1),
    "failureThreshold": (3, 1),
}


@dataclass(frozen=True)
class Probe:
    kind: Literal["exec", "tcpSocket", "httpGet"]
    field: str  # e.g. "sidecars[0].readinessProbe", for messages
    command: tuple[str, ...] = ()
    host: str = LOOPBACK
    port: int = 0
    path: str = "/"
    scheme: str = "HTTP"
    headers: tuple[tuple[str, str], ...] = ()
    initial_delay_s: float = 0.0
    period_s: float = 10.0
    timeout_s: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str  # what the try saw, for the message when the sidecar is never ready


ExecRunner = Callable[[Sequence[str], float], Awaitable[ProbeResult]]
"""Runs an exec probe's command in the sidecar's view with a timeout (the sidecar module supplies it)."""


def _bad(field: str, what: str, hint: str | None = None) -> InvalidInput:
    return InvalidInput(f"{field}: {what}", location=Location(field=field), hint=hint)


def _port(value: Any, field: str, named: Mapping[str, int]) -> int:
    if isinstance(value, bool):
        raise _bad(field, f"port {value!r} is neither a number nor a port name")
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        port = int(value)
        if not 0 < port < 65536:
            raise _bad(field, f"port {port} is out of range (1-65535)")
        return port
    if isinstance(value, str) and value in named:
        return named[value]
    known = ", ".join(sorted(named)) or "none"
    raise _bad(field, f"port {value!r} names no port of the container (its ports: {known})")


def parse_probe(doc: Mapping[str, Any], field: str, named_ports: Mapping[str, int]) -> Probe:
    """A probe from its YAML mapping; InvalidInput naming the field for anything the engine cannot run."""
    handlers = [h for h in (*_HANDLERS, "grpc") if doc.get(h) is not None]
    if len(handlers) != 1:
        raise _bad(
            field, f"a probe needs exactly one of exec, tcpSocket, httpGet (found: {handlers or 'none'})"
        )
    kind = handlers[0]
    if kind == "grpc":
        raise _bad(
            field, "grpc probes are not run by the local engine", "use an exec, tcpSocket or httpGet probe"
        )
    timing: dict[str, float] = {}
    for key, (default, minimum) in _TIMINGS.items():
        value = doc.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise _bad(f"{field}.{key}", f"{value!r} is not a whole number of at least {minimum}")
        timing[key] = value
    spec = doc[kind]
    if not isinstance(spec, Mapping):
        raise _bad(f"{field}.{kind}", "must be a mapping")
    common = {
        "field": field,
        "initial_delay_s": float(timing["initialDelaySeconds"]),
        "period_s": float(timing["periodSeconds"]),
        "timeout_s": float(timing["timeoutSeconds"]),
        "success_threshold": int(timing["successThreshold"]),
        "failure_threshold": int(timing["failureThreshold"]),
    }
    if kind == "exec":
        command = spec.get("command")
        if not isinstance(command, list) or not command:
            raise _bad(f"{field}.exec.command", "an exec probe needs a command (a list of strings)")
        return Probe("exec", command=tuple(str(c) for c in command), **common)  # type: ignore[arg-type]
    port = _port(spec.get("port"), f"{field}.{kind}.port", named_ports)
    host = str(spec.get("host") or LOOPBACK)
    if kind == "tcpSocket":
        return Probe("tcpSocket", host=host, port=port, **common)  # type: ignore[arg-type]
    scheme = str(spec.get("scheme") or "HTTP").upper()
    if scheme not in ("HTTP", "HTTPS"):
        raise _bad(f"{field}.httpGet.scheme", f"{scheme!r} is neither HTTP nor HTTPS")
    headers = tuple(
        (str(h.get("name")), str(h.get("value", "")))
        for h in spec.get("httpHeaders") or []
        if isinstance(h, Mapping)
    )
    path = str(spec.get("path") or "/")
    return Probe(
        "httpGet",
        host=host,
        port=port,
        path=path if path.startswith("/") else f"/{path}",
        scheme=scheme,
        headers=headers,
        **common,  # type: ignore[arg-type]
    )


async def probe_once(probe: Probe, run_exec: ExecRunner) -> ProbeResult:
    """One try of the probe, bounded by its timeoutSeconds."""
    if probe.kind == "exec":
        return await run_exec(probe.command, probe.timeout_s)
    try:
        return await asyncio.wait_for(_network(probe), probe.timeout_s)
    except TimeoutError:
        return ProbeResult(False, f"no answer from {probe.host}:{probe.port} within {probe.timeout_s:g}s")


async def _network(probe: Probe) -> ProbeResult:
    where = f"{probe.host}:{probe.port}"
    context = None
    if probe.scheme == "HTTPS" and probe.kind == "httpGet":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the kubelet does not verify a probe's certificate either
    try:
        reader, writer = await asyncio.open_connection(probe.host, probe.port, ssl=context)
    except OSError as exc:
        return ProbeResult(False, f"cannot connect to {where}: {exc.strerror or exc}")
    try:
        if probe.kind == "tcpSocket":
            return ProbeResult(True, f"connected to {where}")
        lines = [f"GET {probe.path} HTTP/1.1", f"Host: {where}", "User-Agent: kube-probe/1.30"]
        lines += [f"{name}: {value}" for name, value in probe.headers]
        writer.write(("\r\n".join([*lines, "Connection: close", "", ""])).encode("latin-1"))
        await writer.drain()
        status_line = (await reader.readline()).decode("latin-1").strip()
        parts = status_line.split()
        code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        # The kubelet counts 200-399 as success.
        return ProbeResult(
            200 <= code < 400, f"GET {probe.path} on {where} answered {status_line or 'nothing'}"
        )
    except OSError as exc:
        return ProbeResult(False, f"GET {probe.path} on {where} failed: {exc}")
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
