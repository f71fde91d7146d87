"""Helpers shared by command groups: where the data lives, the run store, output formats."""

from __future__ import annotations

import asyncio
import enum
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrain.cli.exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK

if TYPE_CHECKING:
    from retrain.engine.engine import Engine, RunResult, Submission
    from retrain.runs.store import RunStore


def open_store(home: Path | None) -> RunStore:
    """Open the run store and mark runs whose engine died as failed (never 'Running' forever)."""
    from retrain.app.engine import interrupted_note
    from retrain.app.engine import open_store as opened_store

    opened = opened_store(home)
    for name in opened.interrupted:
        print(interrupted_note(name), file=sys.stderr)
    return opened.store


def dump(value: Any, output: str) -> str:
    if output == "json":
        return json.dumps(value, indent=2, sort_keys=False, default=str)
    import yaml

    if isinstance(value, list):
        return yaml.safe_dump_all(value, sort_keys=False, default_flow_style=False)
    return yaml.safe_dump(value, sort_keys=False, default_flow_style=False)


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A Rich table on a terminal; plain aligned columns (never truncated) when piped or logged."""
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(*header, box=None)
        for row in rows:
            table.add_row(*row)
        Console().print(table)
        return
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


class Output(enum.StrEnum):
    """`-o text|json`, the output choice most commands offer."""

    text = "text"
    json = "json"


def version_or_serving(text: str) -> int | None:
    """`--version N` or `--version serving` (None: the version in service)."""
    from retrain.errors import InvalidInput, Location

    if text == "serving":
        return None
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise InvalidInput(
        f"--version must be a version number or 'serving', got {text!r}",
        location=Location(field="--version"),
        hint="for example --version 3 (see retrain models list MODEL)",
    )


def parse_assignments(items: list[str], *, flag: str) -> dict[str, str]:
    from retrain.errors import InvalidInput, Location

    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(
                f"cannot read {item!r}", location=Location(field=flag), hint=f"write it as {flag} NAME=VALUE"
            )
        out[key] = value
    return out


def build_engine(home: Path | None, sandbox: str, *, quiet: bool) -> Engine:
    from retrain.app.engine import build_engine as build

    def note(text: str) -> None:
        print(text, file=sys.stderr)

    return build(home, sandbox, on_line=None if quiet else _line_printer(), on_note=note)


def _line_printer() -> Any:
    def emit(taskrun: str, step: str, line: str) -> None:
        sys.stdout.write(f"[{taskrun}/{step}] {line}\n")
        sys.stdout.flush()

    return emit


async def _execute_all(engine: Engine, submissions: list[Submission]) -> list[RunResult]:
    from retrain.engine.pipelinerun import RunControl

    loop = asyncio.get_running_loop()
    results: list[RunResult] = []
    for sub in submissions:
        control = RunControl()
        presses = 0

        def on_interrupt(control: RunControl = control, name: str = sub.name) -> None:
            nonlocal presses
            presses += 1
            # First Ctrl-C: graceful (running tasks are cancelled, finally runs); second: cancel everything.
            control.local_mode = "CancelledRunFinally" if presses == 1 else "Cancelled"
            control.local.set()
            print(
                f"\n{name}: cancelling ({control.local_mode}); Ctrl-C again cancels finally tasks too",
                file=sys.stderr,
            )

        loop.add_signal_handler(signal.SIGINT, on_interrupt)
        loop.add_signal_handler(signal.SIGTERM, on_interrupt)
        try:
            pending = sub.spec_status == "PipelineRunPending"  # recorded only (engine/spec_status.py)
            print(f"{sub.kind} {sub.name} {'recorded, pending' if pending else 'started'}", file=sys.stderr)
            results.append(await engine.execute(sub, control))
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            loop.remove_signal_handler(signal.SIGTERM)
    return results


def execute_runs(engine: Engine, submissions: list[Submission]) -> list[RunResult]:
    """Run the submissions one after another (Ctrl-C cancels gracefully, twice: at once)."""
    return asyncio.run(_execute_all(engine, submissions))


def exit_code(results: Sequence[RunResult]) -> int:
    """0 when every run succeeded (or was recorded pending: spec.status PipelineRunPending); 130 when the only
    failures are cancellations; else 1."""
    code = EXIT_OK
    for result in results:
        if not result.succeeded and result.reason != "PipelineRunPending":
            cancelled = result.reason in ("Cancelled", "TaskRunCancelled")
            code = EXIT_INTERRUPTED if cancelled and code == EXIT_OK else EXIT_FAILED
    return code


def execute_and_report(engine: Engine, submissions: list[Submission]) -> int:
    """Run the submissions one after another; print each outcome; the exit code for all of them."""
    results = execute_runs(engine, submissions)
    for result in results:
        mark = "Succeeded=True" if result.succeeded else f"Succeeded={result.status}"
        print(
            f"{result.kind} {result.name}: {mark} reason={result.reason}: {result.message}", file=sys.stderr
        )
        if result.reason == "PipelineRunPending":
            print(f"start it with: retrain runs start {result.name}", file=sys.stderr)
    return exit_code(results)
