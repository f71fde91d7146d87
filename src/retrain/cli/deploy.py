"""`retrain deploy`, `retrain verify`, `retrain rollback`: put a version into service, check the live
endpoint, and take it out again. The pipelines' deploy-model, post-deployment-check and rollback steps
call these.

Exit status: 0 done (a deploy or rollback whose server could not be reached is still done: a warning says
so); 1 failed (verify found a stale version, wrong answers or HTTP errors; the server refused the version);
2 bad input (`--target kserve` until the cluster support lands); 3 unknown model or version; 4 nothing to
roll back to; 75 the endpoint was unreachable or not ready in time (try again later).
"""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from retrain.cli.common import Output
from retrain.cli.exits import EXIT_FAILED, EXIT_TEMPORARY, exits

if TYPE_CHECKING:
    from retrain.serving.deployers import DeployResult


class Target(enum.StrEnum):
    local = "local"
    kserve = "kserve"


class NoServer(enum.StrEnum):
    fail = "fail"
    skip = "skip"


ModelArg = Annotated[str, typer.Argument(help="The model, e.g. anomaly-detector.")]
TargetOpt = Annotated[
    Target, typer.Option("--target", help="local (the retrain inference server) or kserve (not yet).")
]
ServingUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--serving-url",
        envvar="RETRAIN_SERVING_URL",
        help="Base URL of the inference server. Default: the `retrain serve` recorded in $RETRAIN_HOME when "
        "it runs; '' for none (registry only).",
        show_default=False,
    ),
]
HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", envvar="RETRAIN_HOME", help="Where `retrain serve` records where it listens."),
]
ServiceOpt = Annotated[
    str,
    typer.Option(
        "--inference-service", help="KServe InferenceService name (empty: the model name). Unused locally."
    ),
]
RegistryOpt = Annotated[
    Path | None,
    typer.Option(
        "--registry",
        help="Registry root. Default: $RETRAIN_REGISTRY, else <$RETRAIN_HOME or "
        "$XDG_DATA_HOME/retrain or ~/.local/share/retrain>/registry.",
        show_default=False,
    ),
]
RunOpt = Annotated[
    str | None, typer.Option("--run", envvar="RETRAIN_RUN_NAME", help="The run asking (audit log).")
]
OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="Output format.")]


def _serving(explicit: str | None, home: Path | None) -> str:
    """The URL to use (option, else the recorded `retrain serve`), said on stderr so logs show which."""
    from retrain.app.serving import resolve_serving_url

    choice = resolve_serving_url(explicit, home)
    if choice.origin != "option":
        print(f"serving: {choice.detail}", file=sys.stderr)
    return choice.url


def _emit(data: dict[str, Any], lines: list[str], warnings: tuple[str, ...], output: Output) -> None:
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if output is Output.json:
        typer.echo(json.dumps(data, indent=2))
    else:
        for line in lines:
            typer.echo(line)


def _result_lines(result: DeployResult) -> list[str]:
    return [result.messages[0], *(f"  {m}" for m in result.messages[1:])]


def deploy_command(
    model: ModelArg,
    version: Annotated[int, typer.Option("--version", min=1, help="The version to serve.")],
    target: TargetOpt = Target.local,
    serving_url: ServingUrlOpt = None,
    inference_service: ServiceOpt = "",
    registry: RegistryOpt = None,
    run: RunOpt = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (audit log).")] = "",
    home: HomeOpt = None,
    output: OutputOpt = Output.text,
) -> None:
    """Serve VERSION of MODEL: promote it atomically in the registry (the serving version becomes
    `previous`), then tell the inference server to load it now. No server answering is a warning: the
    registry change stands and a server started later serves it. A server that refuses the version
    (it does not load) undoes the promotion and exits 1."""
    with exits():
        from retrain.app.deploy import DeployRequest, deploy

        result = deploy(
            DeployRequest(
                model,
                version,
                target=target.value,
                serving_url=_serving(serving_url, home),
                inference_service=inference_service,
                registry=registry,
                run=run,
                reason=reason,
            )
        )
        _emit(result.to_json(), _result_lines(result), result.warnings, output)
    if not result.ok:
        raise typer.Exit(EXIT_FAILED)


def verify_command(
    model: ModelArg,
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint",
            "--serving-url",
            envvar="RETRAIN_SERVING_URL",
            help="Base URL of the inference endpoint. Default: the `retrain serve` recorded in RETRAIN_HOME.",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        int | None,
        typer.Option(
            "--version", "--expect-version", min=1, help="Expected version (default: the serving one)."
        ),
    ] = None,
    inference_service: Annotated[
        str, typer.Option("--inference-service", help="The model's name on the wire (empty: the model name).")
    ] = "",
    registry: RegistryOpt = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for the endpoint to be ready as VERSION.")
    ] = 60.0,
    rows: Annotated[int, typer.Option("--rows", help="How many held-out rows to send.")] = 32,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed of the held-out rows (default: training seed + 2000).")
    ] = None,
    rtol: Annotated[float, typer.Option("--rtol", help="Relative tolerance for float answers.")] = 1e-9,
    if_no_server: Annotated[
        NoServer,
        typer.Option(
            "--if-no-server",
            help="fail, or skip: succeed without checking when nothing listens at the endpoint at all "
            "(a local run without `retrain serve`; any HTTP answer is still checked).",
        ),
    ] = NoServer.fail,
    target: Annotated[
        Target,
        typer.Option(
            "--target",
            help="local, or kserve: the InferenceService's status says which version serves when the "
            "answers do not (stock KServe servers send no version header).",
        ),
    ] = Target.local,
    home: HomeOpt = None,
    output: OutputOpt = Output.text,
) -> None:
    """Check the live endpoint: it must become ready as VERSION (bounded wait), and its V1 and V2 answers
    to held-out rows must come from VERSION and equal the registry's own predictions for those rows."""
    with exits():
        from retrain.app.deploy import VerifyRequest, verify
        from retrain.serving.verify import VerifyOptions

        url = _serving(endpoint, home)
        if not url:
            from retrain.errors import InvalidInput, Location

            raise InvalidInput(
                "verify needs an endpoint, and no `retrain serve` is recorded as running",
                location=Location(field="--endpoint"),
                hint="start `retrain serve`, or pass --endpoint URL",
            )
        options = VerifyOptions(
            timeout_s=timeout, rows=rows, seed=seed, rtol=rtol, if_no_server=if_no_server.value
        )
        report = verify(
            VerifyRequest(
                model,
                url,
                options,
                version=version,
                inference_service=inference_service,
                target=target.value,
                registry=registry,
            )
        )
        warnings = (f"{model}: the endpoint was not checked: {report.skipped}",) if report.skipped else ()
        _emit(report.to_json(), report.lines(), warnings, output)
    if not report.ok:
        raise typer.Exit(EXIT_TEMPORARY if report.temporary else EXIT_FAILED)


def rollback_command(
    model: ModelArg,
    only_if_serving: Annotated[
        int | None,
        typer.Option(
            "--only-if-serving",
            min=1,
            help="Roll back only while this version serves; otherwise do nothing and succeed.",
        ),
    ] = None,
    target: TargetOpt = Target.local,
    serving_url: ServingUrlOpt = None,
    inference_service: ServiceOpt = "",
    registry: RegistryOpt = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (audit log).")] = "",
    run: RunOpt = None,
    home: HomeOpt = None,
    output: OutputOpt = Output.text,
) -> None:
    """Serve the previous version of MODEL again (atomically) and tell the inference server. Exit 4 when
    there is no previous version. With --only-if-serving N, a no-op (exit 0) unless N serves."""
    with exits():
        from retrain.app.deploy import RollbackRequest, rollback

        outcome = rollback(
            RollbackRequest(
                model,
                only_if_serving=only_if_serving,
                target=target.value,
                serving_url=_serving(serving_url, home),
                inference_service=inference_service,
                registry=registry,
                run=run,
                reason=reason,
            )
        )
        if outcome.result is None:
            _emit(outcome.to_json(), [outcome.skipped or ""], (), output)
        else:
            result = outcome.result
            _emit(outcome.to_json(), _result_lines(result), result.warnings, output)
    if not outcome.ok:
        raise typer.Exit(EXIT_FAILED)


def register(app: typer.Typer) -> None:
    """Add `deploy`, `verify` and `rollback` to `app`."""
    app.command("deploy", no_args_is_help=True)(deploy_command)
    app.command("verify", no_args_is_help=True)(verify_command)
    app.command("rollback", no_args_is_help=True)(rollback_command)
