"""The one exception hierarchy of retrain.

Every error says what was wrong, where (file:line, field path, request field) and how to fix it. Whether it
is permanent or temporary (and after how long to retry) is part of its type. The mapping to process exit
codes lives in `retrain.cli` and the mapping to HTTP statuses in `retrain.api`, each in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """Where bad input was found: a file and line, and/or a field path such as `spec.tasks[2].runAfter`."""

    file: str | None = None
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.field:
            where = f"{where}: {self.field}" if where else self.field
        return where


class RetrainError(Exception):
    """Base of every error retrain raises on purpose."""

    permanent: bool = True

    def __init__(self, message: str, *, location: Location | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location and str(self.location) else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class InvalidInput(RetrainError):
    """The user gave us something we cannot accept: malformed YAML, unknown field, wrong type, bad param."""


class InvalidInputs(InvalidInput):
    """Several independent problems found in one input; each is reported."""

    def __init__(self, errors: list[InvalidInput]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


class NotFound(RetrainError):
    """A named thing (run, model, version, pipeline) does not exist."""


class Conflict(RetrainError):
    """The request is valid but the current state forbids it (e.g. a concurrency policy)."""


class TemporaryError(RetrainError):
    """Something that may work if tried again later (an unreachable server, a busy lock)."""

    permanent = False

    def __init__(
        self,
        message: str,
        *,
        retry_after_s: float = 1.0,
        location: Location | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, location=location, hint=hint)
        self.retry_after_s = retry_after_s


class RunFailed(RetrainError):
    """A run ended, but not with Succeeded=True."""
