"""Build the engine: the run store under $RETRAIN_HOME, the built-in catalog and the sandbox, in one place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from retrain.engine.engine import Engine, LineSink
    from retrain.engine.prepare import Catalog
    from retrain.runs.store import RunStore

NoteSink = Callable[[str], None]


@dataclass(frozen=True)
class OpenedStore:
    """The run store, and the runs found interrupted (their engine died) and marked Failed on opening."""

    store: RunStore
    interrupted: tuple[str, ...]


def open_store(home: Path | None) -> OpenedStore:
    """Open the run store and mark runs whose engine died as failed (never 'Running' forever)."""
    from retrain.runs.home import default_home
    from retrain.runs.store import RunStore

    store = RunStore(home or default_home())
    return OpenedStore(store, tuple(store.recover_interrupted()))


def interrupted_note(name: str) -> str:
    return f"note: run {name} was interrupted (its engine stopped); marked Failed"


def build_engine(
    home: Path | None,
    sandbox: str = "auto",
    *,
    on_line: LineSink | None = None,
    on_note: NoteSink | None = None,
    catalog: Catalog | None = None,
) -> Engine:
    """The one way to build an engine: store (with crash recovery), built-in catalog, sandbox detection.

    `on_line` receives every step's output lines; `on_note` the notes about runs recovered on opening;
    `catalog` replaces the built-in one (a service's configuration may add Pipelines to it).
    """
    from retrain.catalog import builtin_catalog
    from retrain.engine.engine import Engine
    from retrain.engine.sandbox import detect_sandbox

    opened = open_store(home)
    if on_note is not None:
        for name in opened.interrupted:
            on_note(interrupted_note(name))
    return Engine(
        opened.store,
        catalog=catalog if catalog is not None else builtin_catalog(),
        sandbox=detect_sandbox(prefer=sandbox),  # type: ignore[arg-type]
        on_line=on_line,
    )
