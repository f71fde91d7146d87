"""Helpers shared by command groups: where the data lives, the run store, output formats."""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
