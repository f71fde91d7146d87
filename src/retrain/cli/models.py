"""`retrain models ...`: inspect the registry, promote, roll back and prune versions (over app.models)."""

from __future__ import annotations

import dataclasses
import enum
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from retrain.app import models as uc
from retrain.cli.exits import exits

if TYPE_CHECKING:
    from retrain.registry import Event

app = typer.Typer(
    rich_markup_mode=None,
    help="Model versions in the registry: list, show, history, promote, rollback, prune.",
    no_args_is_help=True,
)


class Output(enum.StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"


RegistryOpt = Annotated[
    Path | None,
    typer.Option(
        "--registry",
        help="Registry root. Default: $RETRAIN_REGISTRY, else <$RETRAIN_HOME or "
        "$XDG_DATA_HOME/retrain or ~/.local/share/retrain>/registry.",
        show_default=False,
    ),
]
OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="Output format.")]
ModelArg = Annotated[str, typer.Argument(help="Model name, e.g. anomaly-detector.")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (recorded in the audit log).")]
RunOpt = Annotated[str | None, typer.Option("--run", help="The run that asks for this (audit log).")]


def _emit(data: Any, output: Output) -> None:
    if output is Output.json:
        typer.echo(json.dumps(data, indent=2, default=str))
    else:
        import yaml  # lazy: only this output needs it

        plain = json.loads(json.dumps(data, default=str))  # tuples and paths as YAML can hold them
        typer.echo(yaml.safe_dump(plain, sort_keys=False, default_flow_style=False).rstrip())


def _table(title: str | None, columns: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def _text(value: object) -> str:
    return "-" if value is None or value == "" else str(value)


@app.command("list")
def list_models(registry: RegistryOpt = None, output: OutputOpt = Output.table) -> None:
    """Every model: how many versions, which is serving and previous, when the last one was registered."""
    with exits():
        listed = uc.list_models(registry)
    summary = [dataclasses.asdict(row) for row in listed.models]
    if output is not Output.table:
        _emit(summary, output)
    elif not summary:
        typer.echo(f"no models in {listed.registry}")
    else:
        columns = ["model", "versions", "serving", "previous", "last registered"]
        _table(None, columns, [[_text(v) for v in row.values()] for row in summary])


@app.command()
def show(
    model: ModelArg,
    version: Annotated[int | None, typer.Argument(help="Version number; default: the serving one.")] = None,
    registry: RegistryOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """One version: metrics, feature contract and lineage (what produced it, from which data and code)."""
    with exits():
        described = uc.describe(uc.DescribeRequest(model, version, registry))
    data = described.as_json()
    if output is not Output.table:
        _emit(data, output)
        return
    window = data.get("training_window") or {}
    artefact = data.get("artefact") or {}
    lineage = described.lineage
    executed = (
        f"{lineage.executed_notebook} (sha256 {lineage.executed_notebook_sha256})"
        if lineage.executed_notebook is not None
        else None
    )
    facts = [
        ("model", data.get("model")),
        ("version", data.get("version")),
        ("aliases", ", ".join(described.aliases)),
        ("created", data.get("created_at")),
        ("trainer", data.get("trainer")),
        ("notebook", lineage.notebook),
        ("executed notebook", executed),
        ("git commit", lineage.git_commit),
        (
            "data source",
            f"{data.get('data_source_requested')} (effective: {data.get('data_source_effective')})",
        ),
        ("training window", _window(window)),
        ("rows", ", ".join(f"{k}={v}" for k, v in (data.get("rows") or {}).items())),
        ("run", lineage.run),
        ("artefact", str(described.artefact)),
        ("sha256", artefact.get("sha256")),
        ("size", f"{artefact.get('size')} bytes"),
        ("libraries", ", ".join(f"{k} {v}" for k, v in lineage.libraries.items())),
    ]
    _table(None, ["field", "value"], [[name, _text(value)] for name, value in facts])
    metrics = data.get("metrics") or {}
    if metrics:
        _table("metrics", ["metric", "value"], [[k, json.dumps(v)] for k, v in metrics.items()])
    contract = data.get("feature_contract")
    if contract:
        _table("feature contract", ["field", "value"], [[k, json.dumps(v)] for k, v in contract.items()])


def _window(window: dict[str, Any]) -> str:
    parts = [f"{window['hours']:g} h"] if window.get("hours") is not None else []
    if window.get("start") or window.get("end"):
        parts.append(f"{_text(window.get('start'))} .. {_text(window.get('end'))}")
    return ", ".join(parts)


def _event_row(event: Event) -> dict[str, Any]:
    return {
        "at": event.at,
        "event": event.event,
        "version": event.version,
        "previous": event.previous,
        "versions": list(event.versions),
        "alias": event.alias,
        "actor": event.actor,
        "run": event.run,
        "reason": event.reason,
    }


@app.command()
def history(model: ModelArg, registry: RegistryOpt = None, output: OutputOpt = Output.table) -> None:
    """The audit log of a model: registered, promoted, rolled back, rejected, pruned, aliases."""
    with exits():
        events = uc.history(model, registry).events
    rows = [_event_row(e) for e in events]
    if output is not Output.table:
        _emit(rows, output)
        return
    columns = ["at", "event", "version", "previous", "actor", "run", "reason"]
    table_rows = []
    for row in rows:
        version = ", ".join(map(str, row["versions"])) or row["version"]
        if row["alias"]:
            version = f"{version} ({row['alias']})"
        table_rows.append(
            [_text(v) for v in (row["at"], row["event"], version, row["previous"])]
            + [_text(row["actor"]), _text(row["run"]), _text(row["reason"])]
        )
    _table(None, columns, table_rows)


def _report(result: uc.AliasResult, output: Output) -> None:
    if output is not Output.table:
        _emit(dataclasses.asdict(result), output)
    elif not result.changed:
        typer.echo(f"{result.model}: version {result.serving} is already serving; nothing changed")
    else:
        typer.echo(
            f"{result.model}: {result.outcome.replace('_', ' ')}: version {result.serving} is serving "
            f"(was: {_text(result.was)}; previous now: {_text(result.previous)})"
        )


@app.command()
def promote(
    model: ModelArg,
    version: Annotated[int, typer.Argument(help="The version to serve.")],
    reason: ReasonOpt = "",
    run: RunOpt = None,
    registry: RegistryOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """Serve VERSION: the serving version becomes `previous`, and <model>/model.pkl is replaced atomically."""
    with exits():
        result = uc.promote(uc.AliasRequest(model, version, reason, run, registry))
    _report(result, output)


@app.command()
def rollback(
    model: ModelArg,
    reason: ReasonOpt = "",
    run: RunOpt = None,
    registry: RegistryOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """Serve the previous version again (in the registry only; `retrain rollback` also tells the server)."""
    with exits():
        result = uc.rollback(uc.AliasRequest(model, None, reason, run, registry))
    _report(result, output)


@app.command()
def prune(
    model: ModelArg,
    keep: Annotated[int, typer.Option("--keep", help="How many of the newest versions to keep (>= 1).")],
    reason: ReasonOpt = "",
    registry: RegistryOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """Delete old versions. The serving, previous and any aliased version are always kept."""
    with exits():
        result = uc.prune(uc.PruneRequest(model, keep, reason, registry))
    if output is not Output.table:
        _emit(dataclasses.asdict(result), output)
    elif result.deleted:
        typer.echo(f"{model}: deleted version(s) {', '.join(map(str, result.deleted))}")
    else:
        typer.echo(f"{model}: nothing to delete")
