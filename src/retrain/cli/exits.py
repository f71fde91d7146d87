"""The one place where errors become process exit codes."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer

from retrain.errors import Conflict, InvalidInput, NotFound, RetrainError, RunFailed, TemporaryError

EXIT_OK = 0
EXIT_FAILED = 1  # a run ended, but not Succeeded=True
EXIT_INVALID = 2  # bad input: nothing was started
EXIT_NOT_FOUND = 3
EXIT_CONFLICT = 4
EXIT_DRIFTED = 5  # `retrain drift check` found drift
EXIT_REJECTED = 6  # `retrain trigger`: the gate rejected the candidate (the serving version is unchanged)
EXIT_TEMPORARY = 75  # EX_TEMPFAIL: try again later
EXIT_INTERRUPTED = 130


def exit_code_for(error: RetrainError) -> int:
    if isinstance(error, InvalidInput):
        return EXIT_INVALID
    if isinstance(error, NotFound):
        return EXIT_NOT_FOUND
    if isinstance(error, Conflict):
        return EXIT_CONFLICT
    if isinstance(error, TemporaryError):
        return EXIT_TEMPORARY
    if isinstance(error, RunFailed):
        return EXIT_FAILED
    return EXIT_FAILED


def report(error: RetrainError, *, echo: Callable[[str], None] | None = None) -> int:
    say = echo or (lambda text: print(text, file=sys.stderr))
    for line in str(error).splitlines():
        say(f"error: {line}")
    return exit_code_for(error)


@contextmanager
def exits() -> Iterator[None]:
    """Run a command body; a RetrainError becomes a clear message on stderr and its exit code."""
    try:
        yield
    except RetrainError as error:
        raise typer.Exit(report(error)) from None
