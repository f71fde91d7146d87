"""`retrain drift check MODEL`: recent inputs against the serving version's training reference.

A thin adapter over `retrain.app.drift` (the use case): options in, the result formatted out.

Exit status: 0 no drift, 5 drifted (EXIT_DRIFTED), 2 bad input, 3 no such model/version/reference,
75 the data source is unreachable (try again), 1 anything else. A failed push to the Pushgateway is a
warning and changes nothing else.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from retrain.cli.common import Output, version_or_serving
from retrain.cli.exits import EXIT_DRIFTED, EXIT_OK, exits

if TYPE_CHECKING:
    from retrain.app.drift import DriftCheckResult

app = typer.Typer(
    rich_markup_mode=None,
    no_args_is_help=True,
    help="Model drift: live inputs against the training reference.",
)


def _moment(text: str) -> datetime:
    from retrain.errors import InvalidInput, Location

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"--end {text!r} is not an ISO 8601 time",
            location=Location(field="--end"),
            hint="for example 2025-03-05T07:00:00Z",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command("check")
def check_command(
    model: Annotated[str, typer.Argument(help="The model, e.g. anomaly-detector.")],
    hours: Annotated[
        float | None, typer.Option("--hours", help="Live window in hours (default: the config's, 24).")
    ] = None,
    data_source: Annotated[
        str | None,
        typer.Option("--data-source", help="prometheus (default), hybrid or synthetic."),
    ] = None,
    version: Annotated[
        str, typer.Option("--version", help="Compare with this version's reference, or 'serving'.")
    ] = "serving",
    end: Annotated[
        str | None, typer.Option("--end", help="End of the live window (ISO 8601; default now).")
    ] = None,
    registry: Annotated[
        Path | None,
        typer.Option("--registry", help="Registry root (default: $RETRAIN_REGISTRY or the data home)."),
    ] = None,
    prometheus_url: Annotated[
        str | None, typer.Option("--prometheus-url", help="Default $PROMETHEUS_URL, else localhost:9090.")
    ] = None,
    pushgateway: Annotated[
        str | None,
        typer.Option("--pushgateway", envvar="PUSHGATEWAY_URL", help="Push the drift gauges here."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", envvar="RETRAIN_CONFIG", help="retrain.yaml: thresholds from `drift:`."),
    ] = None,
    share: Annotated[
        float | None, typer.Option("--share", help="Drifted when this share of features drifted.")
    ] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Write the JSON report here.")] = None,
    output: Annotated[Output, typer.Option("--output", "-o", help="text or json.")] = Output.text,
) -> None:
    """Compare MODEL's recent inputs with its training reference (PSI and KS per feature, like periods)."""
    with exits():
        from retrain.app.drift import DriftCheckRequest, drift_check

        result = drift_check(
            DriftCheckRequest(
                model=model,
                version=version_or_serving(version),
                hours=hours,
                data_source=data_source,
                end=None if end is None else _moment(end),
                share=share,
                registry=registry,
                config=config,
                prometheus_url=prometheus_url,
                pushgateway=pushgateway,
                report_path=report,
            )
        )
        if result.push is not None:
            print(("" if result.push.ok else "warning: ") + result.push.message, file=sys.stderr)
        if output is Output.json:
            print(json.dumps(result.report.to_json(), indent=2))
        else:
            print_report(result)
    raise typer.Exit(EXIT_DRIFTED if result.drifted else EXIT_OK)


def print_report(result: DriftCheckResult) -> None:
    from retrain.cli.common import print_table

    report = result.report
    window = report.window
    print(
        f"{report.model} v{report.version}: {result.reason} -> {'DRIFTED' if report.drifted else 'no drift'}"
    )
    print(
        f"live: {report.live_rows} rows from {window.get('data_source_effective')} "
        f"({window.get('start')} .. {window.get('end')}); reference: {report.reference_rows} rows"
    )
    for note in report.notes:
        print(f"note: {note}")
    rows = [
        (
            f.feature,
            f"{f.psi:.3f}",
            f"{f.psi_limit:.3f}",
            f.band,
            f"{f.ks_statistic:.3f}",
            f"{f.ks_pvalue:.2g}",
            f"{f.reference_mean:.4g}",
            f"{f.live_mean:.4g}",
            "yes" if f.drifted else "",
        )
        for f in sorted(report.features, key=lambda f: (-f.psi, f.feature))
    ]
    print_table(
        ("FEATURE", "PSI", "PSI LIMIT", "BAND", "KS D", "KS P", "REF MEAN", "LIVE MEAN", "DRIFTED"), rows
    )
    print(f"next: {result.next_action}")


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="drift", help="Model drift: live inputs against the training reference.")
