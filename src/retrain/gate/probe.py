"""The gate's side of the probe process (`retrain.gate.loadprobe`): start it, ask it, time it, kill it.

One probe holds one model. Every request has its own deadline; past it the probe's whole process group is
killed (SIGKILL: a model stuck in C code ignores anything gentler) and `ProbeDied` says what was running.
A probe that exits or is killed by a signal while answering raises `ProbeDied` with the exit status and the
tail of its stderr, so "the unpickle segfaulted" reads as such in the gate report.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

STDERR_TAIL = 1500


class ProbeDied(Exception):
    """The probe process timed out (and was killed) or died; `kind` is "timeout" or "crash"."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class Probe:
    """A `python -m retrain.gate.loadprobe` child. Use as a context manager; it never outlives the block."""

    def __init__(self, label: str, workdir: Path, *, environ: Mapping[str, str] | None = None) -> None:
        self.label = label
        self.workdir = workdir
        self.log_path = workdir / f"probe-{label}.log"
        self._environ = dict(os.environ if environ is None else environ)
        self._process: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self._dead: ProbeDied | None = None

    def __enter__(self) -> Probe:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "retrain.gate.loadprobe"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=self._environ,
                cwd=self.workdir,
                start_new_session=True,  # its own process group, so a kill reaches its helpers too
            )

    @property
    def alive(self) -> bool:
        return self._dead is None and self._process is not None and self._process.poll() is None

    def call(self, op: str, timeout_s: float, what: str, /, **fields: Any) -> dict[str, Any]:
        """Send one request and wait at most `timeout_s` for its answer ({"ok": ...})."""
        if self._dead is not None:
            raise self._dead
        process = self._process
        assert process is not None and process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write((json.dumps({"op": op, **fields}) + "\n").encode())
            process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._died(process) from None
        deadline = time.monotonic() + timeout_s
        fd = process.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    if b"\n" in self._buffer:
                        break
                    self._kill()
                    self._dead = ProbeDied(
                        "timeout",
                        f"{what} did not finish within {timeout_s:g} s; the probe process was killed",
                    )
                    raise self._dead
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise self._died(process)
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None and self._dead is None:
            with contextlib.suppress(OSError, ValueError):
                assert process.stdin is not None
                process.stdin.write(b'{"op": "exit"}\n')
                process.stdin.flush()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._kill()
        elif process.poll() is None:
            self._kill()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._process = None

    def stderr_tail(self) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return text[-STDERR_TAIL:].strip()

    def _kill(self) -> None:
        process = self._process
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # the group this probe leads (start_new_session)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait()

    def _died(self, process: subprocess.Popen[bytes]) -> ProbeDied:
        try:
            code = process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._kill()
            code = process.returncode
        if code is not None and code < 0:
            how = f"was killed by signal {signal.Signals(-code).name}"
        else:
            how = f"exited with status {code}"
        tail = self.stderr_tail()
        self._dead = ProbeDied(
            "crash", f"the probe process {how}" + (f": {_last_lines(tail)}" if tail else "")
        )
        return self._dead


def _last_lines(text: str, count: int = 3) -> str:
    return " | ".join(line.strip() for line in text.splitlines()[-count:] if line.strip())
