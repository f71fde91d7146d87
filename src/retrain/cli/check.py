"""`retrain check MODEL --version N`: the gate. Writes the verdict (Tekton result) and a JSON report.

A thin adapter over `retrain.app.check`; the catalog pipelines call it, so its options, its output and
the Tekton result `verdict` stay exactly as they are.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from retrain.cli.common import Output, version_or_serving
from retrain.cli.exits import EXIT_FAILED, exits


def _baseline(text: str) -> str | int:
    from retrain.errors import InvalidInput, Location

    if text in ("serving", "none"):
        return text
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise InvalidInput(
        f"--baseline must be 'serving', 'none' or a version number, got {text!r}",
        location=Location(field="--baseline"),
    )


def _moment(text: str) -> datetime:
    from retrain.errors import InvalidInput, Location

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"--holdout-end {text!r} is not an ISO 8601 time",
            location=Location(field="--holdout-end"),
            hint="for example 2025-03-05T07:00:00Z (the report's holdout.end)",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def check_command(
    model: Annotated[str, typer.Argument(help="The model, e.g. anomaly-detector.")],
    version: Annotated[str, typer.Option("--version", help="The version to gate, or 'serving'.")],
    registry: Annotated[
        Path | None,
        typer.Option("--registry", help="Registry root (default: $RETRAIN_REGISTRY or the data home)."),
    ] = None,
    thresholds: Annotated[
        Path | None,
        typer.Option(
            "--thresholds",
            envvar="RETRAIN_GATE_THRESHOLDS",
            help="YAML file of per-model thresholds (default: the built-in defaults; see docs/gate.md).",
        ),
    ] = None,
    baseline: Annotated[
        str, typer.Option("--baseline", help="Compare with: serving (default), none, or a version number.")
    ] = "serving",
    pushgateway: Annotated[
        str | None,
        typer.Option("--pushgateway", envvar="PUSHGATEWAY_URL", help="Push the verdict and metrics here."),
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the JSON report to this file.")
    ] = None,
    results_dir: Annotated[
        Path | None,
        typer.Option(
            "--results-dir", envvar="RETRAIN_RESULTS_DIR", help="Write the Tekton result `verdict` here."
        ),
    ] = None,
    fail_on_reject: Annotated[
        bool, typer.Option("--fail-on-reject", help="Exit 1 when the verdict is rejected.")
    ] = False,
    load_timeout: Annotated[
        float | None, typer.Option("--load-timeout", help="Seconds the model may take to load (default 30).")
    ] = None,
    load_only: Annotated[
        bool,
        typer.Option(
            "--load-only",
            help="Only the load checks (artefact, digest, load in a separate process, feature width): what "
            "a pipeline runs when its health checks are disabled.",
        ),
    ] = False,
    data_source: Annotated[
        str | None,
        typer.Option("--data-source", help="Held-out rows from synthetic, prometheus or hybrid data."),
    ] = None,
    holdout_end: Annotated[
        str | None,
        typer.Option(
            "--holdout-end",
            help="End of the held-out window (ISO 8601, default now): reproduces an earlier report's rows.",
        ),
    ] = None,
    run: Annotated[
        str | None,
        typer.Option("--run", envvar="RETRAIN_RUN_NAME", help="The run, recorded with a rejection."),
    ] = None,
    output: Annotated[Output, typer.Option("--output", "-o", help="Output format.")] = Output.text,
) -> None:
    """Gate MODEL's version: artefact, load, feature contract, predictions on held-out rows, quality
    against the serving version, infra validation in the real server; then push and report.

    Exit status: 0 with a verdict (blessed or rejected; 1 for rejected with --fail-on-reject),
    2 bad input (thresholds file, options), 3 unknown model or version, 75 held-out data unreachable.
    """
    with exits():
        from retrain.app.check import CheckRequest, check
        from retrain.gate import report_json, summary

        result = check(
            CheckRequest(
                model=model,
                version=version_or_serving(version),
                registry=registry,
                thresholds=thresholds,
                baseline=_baseline(baseline),
                data_source=data_source,
                load_timeout_s=load_timeout,
                load_only=load_only,
                holdout_end=_moment(holdout_end) if holdout_end is not None else None,
                run=run,
                pushgateway=pushgateway,
                report_path=report,
                results_dir=results_dir,
            )
        )
        if output is Output.json:
            typer.echo(json.dumps(report_json(result.report), indent=2))
        else:
            typer.echo(summary(result.report))
            if result.report_path is not None:
                typer.echo(f"  report: {result.report_path}")
    if fail_on_reject and not result.blessed:
        raise typer.Exit(EXIT_FAILED)


def register(app: typer.Typer) -> None:
    app.command("check", no_args_is_help=True)(check_command)
