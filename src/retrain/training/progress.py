"""How `train` reports its steps: a seam, so the CLI can draw a Rich display on a terminal and log plain
lines elsewhere, and tests can record what happened."""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger("retrain.training")


class Progress(Protocol):
    def begin(self, step: str, total: int | None = None) -> None:
        """A step starts (`total`: how many units it has, when known)."""

    def update(self, completed: int, total: int | None, detail: str) -> None:
        """The current step has completed `completed` of `total` units; `detail` says what runs now."""

    def end(self, step: str, summary: str) -> None:
        """The step is done."""


class LogProgress:
    """Plain log lines (for pipelines, files and anything that is not a terminal)."""

    def __init__(self, logger: logging.Logger = log) -> None:
        self._log = logger

    def begin(self, step: str, total: int | None = None) -> None:
        self._log.info("%s ...", step)

    def update(self, completed: int, total: int | None, detail: str) -> None:
        of = f"/{total}" if total else ""
        self._log.info("  [%d%s] %s", completed + 1, of, detail)

    def end(self, step: str, summary: str) -> None:
        self._log.info("%s: %s", step, summary)


class NoProgress:
    def begin(self, step: str, total: int | None = None) -> None:
        pass

    def update(self, completed: int, total: int | None, detail: str) -> None:
        pass

    def end(self, step: str, summary: str) -> None:
        pass
