"""`retrain models ...`: inspect the registry, promote, roll back and prune versions."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from retrain.cli.exits import exits
from retrain.registry import Event, Promotion, Registry, VersionInfo, default_root

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


def _registry(root: Path | None) -> Registry:
    return Registry(root if root is not None else default_root())


def _emit(data: Any, output: Output) -> None:
    if output is Output.json:
        typer.echo(json.dumps(data, indent=2, default=str))
    else:
        import yaml  # lazy: only this output needs it

        typer.echo(yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip())


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
        reg = _registry(registry)
        summary = []
        for model in reg.models():
            versions = reg.versions(model)
            aliases = reg.aliases(model)
            summary.append(
                {
                    "model": model,
                    "versions": len(versions),
                    "serving": aliases.get("serving"),
                    "previous": aliases.get("previous"),
                    "last_registered": versions[-1].created_at if versions else None,
                }
            )
        if output is not Output.table:
            _emit(summary, output)
        elif not summary:
            typer.echo(f"no models in {reg.root}")
        else:
            columns = ["model", "versions", "serving", "previous", "last registered"]
            _table(None, columns, [[_text(v) for v in row.values()] for row in summary])


def _describe(reg: Registry, info: VersionInfo) -> dict[str, Any]:
    aliases = sorted(name for name, number in reg.aliases(info.model).items() if number == info.version)
    return {"aliases": aliases, "path": str(info.path), **info.metadata}


@app.command()
def show(
    model: ModelArg,
    version: Annotated[int | None, typer.Argument(help="Version number; default: the serving one.")] = None,
    registry: RegistryOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """One version: metrics, feature contract and lineage (what produced it, from which data and code)."""
    with exits():
        reg = _registry(registry)
        data = _describe(reg, reg.get(model, version))
    if output is not Output.table:
        _emit(data, output)
        return
    window = data.get("training_window") or {}
    artefact = data.get("artefact") or {}
    facts = [
        ("model", data.get("model")),
        ("version", data.get("version")),
        ("aliases", ", ".join(data["aliases"])),
        ("created", data.get("created_at")),
        ("trainer", data.get("trainer")),
        ("notebook", data.get("notebook_path")),
        ("git commit", data.get("git_commit")),
        (
            "data source",
            f"{data.get('data_source_requested')} (effective: {data.get('data_source_effective')})",
        ),
        ("training window", _window(window)),
        ("rows", ", ".join(f"{k}={v}" for k, v in (data.get("rows") or {}).items())),
        ("run", data.get("run")),
        ("artefact", f"{data['path']}/{artefact.get('file')}"),
        ("sha256", artefact.get("sha256")),
        ("size", f"{artefact.get('size')} bytes"),
        ("libraries", ", ".join(f"{k} {v}" for k, v in (data.get("libraries") or {}).items())),
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
        events = _registry(registry).history(model)
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


def _report(promotion: Promotion) -> None:
    if not promotion.changed or promotion.event is None:
        typer.echo(f"{promotion.model}: version {promotion.serving} is already serving; nothing changed")
        return
    event = promotion.event
    typer.echo(
        f"{promotion.model}: {event.event.replace('_', ' ')}: version {promotion.serving} is serving "
        f"(was: {_text(event.previous)}; previous now: {_text(promotion.previous)})"
    )


@app.command()
def promote(
    model: ModelArg,
    version: Annotated[int, typer.Argument(help="The version to serve.")],
    reason: ReasonOpt = "",
    run: RunOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """Serve VERSION: the serving version becomes `previous`, and <model>/model.pkl is replaced atomically."""
    with exits():
        _report(_registry(registry).promote(model, version, reason=reason, run=run))


@app.command()
def rollback(
    model: ModelArg, reason: ReasonOpt = "", run: RunOpt = None, registry: RegistryOpt = None
) -> None:
    """Serve the previous version again."""
    with exits():
        _report(_registry(registry).rollback(model, reason=reason, run=run))


@app.command()
def prune(
    model: ModelArg,
    keep: Annotated[int, typer.Option("--keep", help="How many of the newest versions to keep (>= 1).")],
    reason: ReasonOpt = "",
    registry: RegistryOpt = None,
) -> None:
    """Delete old versions. The serving, previous and any aliased version are always kept."""
    with exits():
        removed = _registry(registry).prune(model, keep=keep, reason=reason)
    if removed:
        typer.echo(f"{model}: deleted version(s) {', '.join(map(str, removed))}")
    else:
        typer.echo(f"{model}: nothing to delete")
