"""Run one step as a local process: start it in a sandbox, stream its output, end it and all it started.

A step ends like a container: when its main process exits, whatever it left running is killed. On timeout
or cancel the step gets SIGTERM, `TERM_GRACE_S` to finish, then SIGKILL. Under bwrap the step lives in its
own PID namespace, so killing the launcher kills every descendant, even ones that called setsid(). In host
mode the step's process group is killed, plus every process still carrying the step's tag in its
environment (a process that escapes both is the one thing host mode cannot catch).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Literal

from retrain.engine.sandbox import Mount, Sandbox
from retrain.engine.security_context import RunAs
from retrain.errors import InvalidInput
from retrain.tekton.durations import format_duration

__all__ = ["DRAIN_GRACE_S", "TAG_VAR", "TERM_GRACE_S", "StepLaunch", "StepOutcome", "run_step", "utcnow"]

logger = logging.getLogger("retrain.engine")

TERM_GRACE_S = 2.0
"""Seconds between SIGTERM and SIGKILL when a step times out or is cancelled."""
DRAIN_GRACE_S = 1.0
"""Seconds to wait for the output pipe to close once everything of the step has been killed."""
TAG_VAR = "RETRAIN_STEP_TAGS"
"""Host mode: colon-separated tags of the steps a process belongs to (nested engines append theirs)."""
_MAX_LINE = 1 << 20  # a "line" longer than this is passed on in pieces rather than held in memory

Reason = Literal["Completed", "Error", "TimeoutExceeded", "Cancelled"]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class StepLaunch:
    argv: Sequence[str]
    env: Mapping[str, str]
    working_dir: str | None
    mounts: Sequence[Mount]
    log_path: Path
    timeout_s: float | None
    name: str = ""
    """The step's name, for messages only."""
    run_as: RunAs | None = None
    """The container's user, group and privileges (securityContext: security_context.py)."""


@dataclass(frozen=True)
class StepOutcome:
    exit_code: int
    reason: Reason
    started_at: datetime
    finished_at: datetime
    message: str


class _Lines(asyncio.Protocol):
    """Appends raw output to the log as it arrives and hands complete lines to `on_line`."""

    def __init__(self, log: IO[bytes], on_line: Callable[[str], None] | None) -> None:
        self._log = log
        self._on_line = on_line
        self._partial = b""
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.ended_with_newline = True

    def data_received(self, data: bytes) -> None:
        self._log.write(data)  # unbuffered file: this is the flush
        self.ended_with_newline = data.endswith(b"\n")
        if self._on_line is None:
            return
        *lines, self._partial = (self._partial + data).split(b"\n")
        if len(self._partial) > _MAX_LINE:
            lines.append(self._partial)
            self._partial = b""
        for line in lines:
            self._emit(line)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._partial:
            self._emit(self._partial)
            self._partial = b""
        if not self.ended.done():
            self.ended.set_result(None)

    def _emit(self, line: bytes) -> None:
        assert self._on_line is not None
        try:
            self._on_line(line.decode("utf-8", errors="replace"))
        except Exception:  # a broken listener must not break the step or lose its log
            logger.exception("on_line callback failed; the line is in the step log")


async def run_step(
    launch: StepLaunch,
    sandbox: Sandbox,
    *,
    cancel: asyncio.Event,
    on_line: Callable[[str], None] | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> StepOutcome:
    """Run the step to its end; the outcome carries the exit code, why it ended and when."""
    if not launch.argv:
        raise InvalidInput(
            f'step "{launch.name}" has nothing to run', hint="give the step a `script` or a `command`"
        )
    loop = asyncio.get_running_loop()
    env = dict(launch.env)
    tag = secrets.token_hex(8)
    if sandbox.mode == "host":
        env[TAG_VAR] = ":".join(t for t in (os.environ.get(TAG_VAR, ""), tag) if t)
    working_dir = launch.working_dir or _default_working_dir(launch.mounts, sandbox)
    argv, env, cwd = sandbox.wrap(
        launch.argv, mounts=launch.mounts, working_dir=working_dir, env=env, run_as=launch.run_as
    )
    launch.log_path.parent.mkdir(parents=True, exist_ok=True)
    with launch.log_path.open("ab", buffering=0) as log:
        started = clock()
        read_fd, write_fd = os.pipe()
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=write_fd,
                stderr=write_fd,
                env=env,
                cwd=cwd,
                start_new_session=True,  # its own group: one signal reaches all it starts
            )
        except OSError as exc:
            os.close(read_fd)
            message = f"cannot start {argv[0]}: {exc.strerror or exc}"
            log.write(f"{message}\n".encode())
            code = 127 if isinstance(exc, FileNotFoundError) else 126  # as a shell reports it
            return StepOutcome(code, "Error", started, clock(), message)
        finally:
            os.close(write_fd)
        lines = _Lines(log, on_line)
        transport: asyncio.BaseTransport | None = None
        try:
            transport, _ = await loop.connect_read_pipe(lambda: lines, os.fdopen(read_fd, "rb", buffering=0))
            reason = await _supervise(proc, launch.timeout_s, cancel, sandbox.mode == "bwrap", tag)
            # Drain what is still in the pipe; everything that could hold it open has been killed.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(lines.ended), DRAIN_GRACE_S)
        finally:
            if transport is not None:
                transport.close()
            if proc.returncode is None:  # only when cancelled from outside (task cancellation)
                _kill_everything(proc.pid, signal.SIGKILL, tag if sandbox.mode == "host" else None)
                proc.wait()
        if not lines.ended_with_newline:
            log.write(b"\n")  # the next writer starts on a line of its own
    finished = clock()
    status = proc.returncode
    assert status is not None  # reaped in _supervise or in the finally above
    code = status if status >= 0 else 128 - status  # killed by a signal: the shell's 128 + N
    if reason is None:
        reason = "Completed" if code == 0 else "Error"
    return StepOutcome(code, reason, started, finished, _message(reason, launch))


async def _supervise(
    proc: subprocess.Popen[bytes], timeout_s: float | None, cancel: asyncio.Event, bwrap: bool, tag: str
) -> Reason | None:
    """Wait for the main process; end the step on timeout or cancel. Returns the reason it was ended."""
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[bool] = loop.create_future()
    pidfd = os.pidfd_open(proc.pid)  # readable once the process has exited; no polling, no threads

    def on_exit() -> None:
        loop.remove_reader(pidfd)  # level-triggered: it would fire on every loop turn from now on
        if not exited.done():
            exited.set_result(True)

    loop.add_reader(pidfd, on_exit)
    cancelled = asyncio.ensure_future(_wait_set(cancel))
    host_tag = None if bwrap else tag
    try:
        timeout = timeout_s if timeout_s else None  # Tekton: a zero timeout means none
        await asyncio.wait({exited, cancelled}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        reason: Reason | None = None
        if not exited.done():
            reason = "Cancelled" if cancelled.done() else "TimeoutExceeded"
            # bwrap's launcher dies of SIGTERM at once and takes the namespace with it; spare it, so that
            # the step's own processes get their grace period.
            _kill_everything(proc.pid, signal.SIGTERM, host_tag, spare=proc.pid if bwrap else None)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(exited), TERM_GRACE_S)
        # The main process is now a zombie (or about to be killed): its pid still names the group, so the
        # group cannot have been reused. Kill what is left, as a container's end would.
        _kill_everything(proc.pid, signal.SIGKILL, host_tag)
        await exited
        proc.wait()
        return reason
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        cancelled.cancel()


async def _wait_set(event: asyncio.Event) -> bool:
    return await event.wait()


def _kill_everything(pgid: int, sig: signal.Signals, tag: str | None, spare: int | None = None) -> None:
    if spare is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
    pids = _scan(pgid if spare is not None else None, tag)
    for pid in pids - {spare}:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _scan(pgid: int | None, tag: str | None) -> set[int]:
    """Processes in group `pgid` and/or carrying `tag` in RETRAIN_STEP_TAGS, read from /proc.

    Raw os calls on purpose: host mode scans after every step, and pathlib costs twice as much here.
    """
    found: set[int] = set()
    if pgid is None and tag is None:
        return found
    needle = tag.encode() if tag else b""
    prefix = f"{TAG_VAR}=".encode()
    for entry in os.scandir("/proc"):
        name = entry.name
        if not name.isdigit():
            continue
        try:
            if pgid is not None:
                stat = _read(f"/proc/{name}/stat", 1024)
                if int(stat.rsplit(b")", 1)[1].split()[2]) == pgid:
                    found.add(int(name))
                    continue
            if tag is not None:
                environ = _read(f"/proc/{name}/environ", 1 << 20)
                if needle in environ and any(
                    var.startswith(prefix) and needle in var[len(prefix) :].split(b":")
                    for var in environ.split(b"\0")
                ):
                    found.add(int(name))
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not ours to read
    return found


def _read(path: str, limit: int) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, limit)
    finally:
        os.close(fd)


def _default_working_dir(mounts: Sequence[Mount], sandbox: Sandbox) -> str:
    workspace = next((m for m in mounts if m.target.rstrip("/") == "/workspace"), None)
    return sandbox.visible_path(workspace) if workspace else "/workspace"


def _message(reason: Reason, launch: StepLaunch) -> str:
    step = f'Step "{launch.name}"' if launch.name else "The step"
    if reason == "TimeoutExceeded" and launch.timeout_s:
        return f"{step} exceeded its timeout of {format_duration(timedelta(seconds=launch.timeout_s))}"
    if reason == "Cancelled":
        return f"{step} was cancelled"
    return ""
