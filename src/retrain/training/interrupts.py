"""SIGTERM as an exception, so a terminated `retrain train` cleans up like a failed one.

Python turns SIGINT into KeyboardInterrupt, but SIGTERM (what Tekton, Kubernetes and `retrain runs cancel`
send first) ends the process at once: no `finally` runs, and the run's scratch directory and notebook kernel
would stay. Inside `terminating()` SIGTERM raises `Terminated` instead, once; a second one during the
clean-up is ignored (SIGKILL remains the way to stop a stuck clean-up, and the next run sweeps after it).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType


class Terminated(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM or SIGINT). A KeyboardInterrupt, not merely a BaseException:
    asyncio re-raises KeyboardInterrupt (and SystemExit) from a callback but logs and swallows any other
    BaseException, so a signal landing inside the notebook client's event loop would otherwise be lost and
    the run would go on (seen as a hang in CI). Nothing that catches Exception swallows it either."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(f"stopped by {self.name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 143 for SIGTERM, 130 for SIGINT


@contextlib.contextmanager
def terminating(signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> Iterator[None]:
    """Raise `Terminated` in the main thread when one of `signals` arrives; restore the handlers after.

    Outside the main thread (a server calling the use case) signal handlers cannot be set; the block then
    runs with the process's own handling.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal fired
        if fired:
            return  # cleaning up after the first one
        fired = True
        raise Terminated(signum)

    previous = {signum: signal.signal(signum, handler) for signum in signals}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
