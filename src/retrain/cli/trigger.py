"""`retrain trigger`: start model training the way the platform's trigger-model-training.sh did."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from retrain.cli.common import Output
from retrain.cli.exits import EXIT_FAILED, EXIT_OK, EXIT_REJECTED, exits
from retrain.console.summary import print_summary

if TYPE_CHECKING:
    from retrain.app.cluster_trigger import SiteRunRequest
    from retrain.app.requests import TrainingRequest
    from retrain.app.serving import ServingChoice
    from retrain.app.trigger import RunFacts, TrainingSummary, TriggerRequest
    from retrain.engine.engine import Engine


def run_locally(engine: Engine, request: TriggerRequest) -> TrainingSummary:
    """Submit and run the request's pipeline with a live task table; the truth about it afterwards."""
    from retrain.app.trigger import record_summary, start, summarize
    from retrain.console.live import execute_with_table

    sub = start(engine, request)
    print(f"PipelineRun {sub.name} started ({request.training.pipeline}, model {request.training.model})")
    asyncio.run(execute_with_table(engine, sub))
    summary = summarize(engine.store, request.registry, sub.name)
    record_summary(engine.store, summary)
    return summary


def exit_code(summary: TrainingSummary) -> int:
    """0: the new version serves (or was promoted, registry only); 6: the gate rejected it; 1: otherwise."""
    if summary.ok:
        return EXIT_OK
    return (
        EXIT_REJECTED if summary.outcome == "rejected" and summary.run_state == "Succeeded" else EXIT_FAILED
    )


def trigger_command(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="anomaly-detector, predictive-analytics, or a custom model name."),
    training_hours: str = typer.Argument("168", help="Training window in hours."),
    data_source: str = typer.Argument("hybrid", help="synthetic, prometheus or hybrid."),
    notebook_path: str | None = typer.Option(None, "--notebook-path", help="Notebook (required for custom)."),
    inference_service: str | None = typer.Option(None, "--inference-service", help="Serving name (custom)."),
    gpu: bool | None = typer.Option(None, "--gpu/--cpu", help="Pick the GPU or CPU pipeline."),
    no_health_check: bool = typer.Option(False, "--no-health-check", help="Only load checks before deploy."),
    serving_url: str | None = typer.Option(
        None,
        "--serving-url",
        help="Inference endpoint to deploy to and check. Default: the `retrain serve` recorded in "
        "RETRAIN_HOME; with none running, the version is promoted in the registry only.",
        show_default=False,
    ),
    verify_timeout: float = typer.Option(
        60.0,
        "--verify-timeout",
        min=1,
        help="Seconds the live check waits for the endpoint to serve the version.",
    ),
    registry_only: bool = typer.Option(
        False, "--registry-only", help="Promote in the registry only: tell no server, run no live check."
    ),
    prometheus_url: str = typer.Option("", "--prometheus-url", envvar="PROMETHEUS_URL"),
    registry: Path | None = typer.Option(
        None, "--registry", envvar="RETRAIN_REGISTRY", help="Registry root."
    ),
    home: Path | None = typer.Option(None, "--home", envvar="RETRAIN_HOME", help="Data directory."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    cluster: bool = typer.Option(
        False, "--cluster", help="Start a PipelineRun on the kubeconfig's cluster (deploy target kserve)."
    ),
    claim: str | None = typer.Option(
        None, "--claim", help="--cluster: the model-storage PVC (default: the site's).", show_default=False
    ),
    namespace: str | None = typer.Option(
        None, "--namespace", "-n", help="--cluster: the namespace (default: the site's, else the context's)."
    ),
    values: Path | None = typer.Option(
        None,
        "--values",
        "-f",
        help="--cluster: the site values file (the one `retrain cluster render -f` takes).",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="--cluster: print the PipelineRun it would create; no cluster needed."
    ),
    service: str | None = typer.Option(
        None,
        "--service",
        envvar="RETRAIN_SERVICE_URL",
        help="Start the run through the `retrain serve` at this URL. Default: the configured service "
        "($RETRAIN_CONFIG, else 127.0.0.1:8080) when one answers and no --registry/--home is given.",
    ),
    local: bool = typer.Option(False, "--local", help="Run in this process even when a service answers."),
    token: str | None = typer.Option(None, "--token", envvar="RETRAIN_API_TOKEN", help="The API's token."),
    detach: bool = typer.Option(False, "--detach", help="With a service: return once the run started."),
    output: Output = typer.Option(Output.text, "--output", "-o", help="The closing summary's format."),
) -> None:
    """Train MODEL with its built-in pipeline: gate, deploy if blessed, verify, roll back on failure.

    Exit status: 0 the new version serves (or, registry only, was promoted); 6 the gate rejected it (the
    serving version is unchanged); 1 anything else failed (the summary says what and why); 2 bad input."""
    from retrain.app.engine import build_engine
    from retrain.app.requests import TrainingRequest
    from retrain.app.serving import registry_mismatch, resolve_serving_url
    from retrain.app.trigger import TriggerRequest, preflight
    from retrain.registry import default_root

    with exits():
        if registry_only and serving_url:
            from retrain.errors import InvalidInput, Location

            raise InvalidInput(
                "--registry-only and --serving-url contradict each other",
                location=Location(field="--registry-only"),
                hint="drop one of them",
            )
        req = TrainingRequest(
            model=model,
            training_hours=training_hours,
            data_source=data_source,
            notebook_path=notebook_path,
            inference_service=inference_service,
            gpu=gpu,
            health_check=not no_health_check,
            prometheus_url=prometheus_url,
            verify_timeout_s=verify_timeout,
        )
        if dry_run and not cluster:
            from retrain.errors import InvalidInput, Location

            raise InvalidInput(
                "--dry-run prints the PipelineRun of --cluster",
                location=Location(field="--dry-run"),
                hint="add --cluster",
            )
        if cluster:
            from retrain.app.cluster_trigger import training_site_request

            site = training_site_request(
                req,
                values_file=values,
                namespace=namespace,
                claim=claim,
                explicit={
                    name: _given(ctx, name) for name in ("training_hours", "data_source", "verify_timeout")
                },
            )
            raise typer.Exit(trigger_on_cluster(site, dry_run=dry_run, confirm=not yes, output=output))
        preflight(req, Path.cwd())
        choice = resolve_serving_url("" if registry_only else serving_url, home)
        url = (
            None
            if local or serving_url is not None or registry_only
            else service_url(service, choice, registry)
        )
        if url is not None:
            raise typer.Exit(trigger_via_service(url, token, req, confirm=not yes, detach=detach))
        root = (registry or choice.registry or default_root()).resolve()
        print(
            f"model: {model}\npipeline: {req.pipeline}\ntraining window: {training_hours} h\n"
            f"data source: {data_source}\nregistry: {root}\nserving: {choice.detail}"
        )
        mismatch = registry_mismatch(choice, root)
        if mismatch:
            print(f"WARNING: {mismatch}", file=sys.stderr)
        if not yes and not typer.confirm("Start training?", default=True):
            raise typer.Exit(EXIT_FAILED)

        def note(text: str) -> None:
            print(text, file=sys.stderr)

        engine = build_engine(home, "auto", on_note=note)
        request = TriggerRequest(replace(req, serving_url=choice.url), root, Path.cwd())
        summary = run_locally(engine, request)
        print_summary(summary, as_json=output is Output.json)
        raise typer.Exit(exit_code(summary))


def _given(ctx: typer.Context, name: str) -> bool:
    """The user gave this option or argument (not its default)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name != "DEFAULT"


def trigger_on_cluster(site: SiteRunRequest, *, dry_run: bool, confirm: bool, output: Output) -> int:
    """Create the request's PipelineRun as the site runs it (deploy target kserve); print it with dry_run."""
    import json

    from retrain.app.cluster_trigger import plan_on_cluster, plan_site_run, start_on_cluster
    from retrain.cluster.client import ClusterSettings

    if dry_run:
        body = plan_site_run(site).body
        if output is Output.json:
            print(json.dumps(body, indent=2))
        else:
            from retrain.cluster.yamlout import dump_document

            print(dump_document(body), end="")
        return EXIT_OK
    cplan = plan_on_cluster(site, ClusterSettings(namespace=site.namespace))
    params = {p["name"]: p["value"] for p in cplan.plan.body["spec"]["params"]}
    claims = {
        w["name"]: w.get("persistentVolumeClaim", {}).get("claimName")
        for w in cplan.plan.body["spec"]["workspaces"]
    }
    print(
        f"model: {params.get('model-name')}\npipeline: {cplan.plan.body['spec']['pipelineRef']['name']}\n"
        f"training window: {params.get('training-hours')} h\ndata source: {params.get('data-source')}\n"
        f"cluster: {cplan.host} namespace {cplan.plan.namespace}\nclaim: {claims.get('model-storage')}\n"
        f"deploy: {params.get('deploy-target')} at {params.get('serving-url')}"
    )
    if confirm and not typer.confirm("Start training?", default=True):
        return EXIT_FAILED
    created = start_on_cluster(cplan)
    print(
        f"PipelineRun {created.name} started on the cluster (follow: retrain cluster logs {created.name} -f)"
    )
    return EXIT_OK


def service_url(explicit: str | None, choice: ServingChoice, registry: Path | None) -> str | None:
    """Where to start the run: --service; else the `retrain serve` found in RETRAIN_HOME (or the configured
    one when it answers) unless --registry asks for a local run against a registry of its own."""
    import os

    from retrain.api.client import DEFAULT_URL, ServiceClient

    if explicit:
        return explicit
    if registry is not None:
        return None
    if choice.origin == "discovered":
        return choice.url
    url = DEFAULT_URL
    if os.environ.get("RETRAIN_CONFIG"):
        from retrain.triggers.config import config_path, load_config

        server = load_config(config_path(None, os.environ), os.environ).server
        host = "127.0.0.1" if server.host in ("0.0.0.0", "::") else server.host  # noqa: S104
        url = f"http://{host}:{server.port}"
    client = ServiceClient(url, timeout_s=0.5)
    try:
        return url if client.health() is not None else None
    finally:
        client.close()


def trigger_via_service(
    url: str, token: str | None, req: TrainingRequest, *, confirm: bool, detach: bool
) -> int:
    """Start the run in the service (POST /api/v1/runs) and follow it there; the exit code."""
    import time

    from retrain.api.client import ServiceClient, finished, task_states
    from retrain.app.trigger import conclude

    print(
        f"model: {req.model}\npipeline: {req.pipeline}\ntraining window: {req.training_hours} h\n"
        f"data source: {req.data_source}\nservice: {url}"
    )
    if confirm and not typer.confirm("Start training?", default=True):
        return EXIT_FAILED
    notebook = str(Path(req.notebook_path).resolve()) if req.notebook_path else None
    client = ServiceClient(url, token=token)
    try:
        answer = client.start_run(
            {
                "model": req.model,
                "training_hours": req.training_hours,
                "data_source": req.data_source,
                "notebook_path": notebook,
                "inference_service": req.inference_service,
                "gpu": req.gpu,
                "health_check": req.health_check,
            }
        )
        name = answer["run"]
        print(
            f"PipelineRun {name} {answer['status']} in the service at {url}: {answer['reason']}",
            file=sys.stderr,
        )
        if detach:
            return EXIT_OK
        shown: dict[str, str] = {}
        while True:  # follow the run as the service records it
            doc = client.run(name)
            tasks = task_states(doc, client.taskruns(name))
            for task, row in tasks.items():
                if shown.get(task) != row["state"]:
                    shown[task] = row["state"]
                    took = "" if row["duration"] == "-" else f" {row['duration']}"
                    print(f"{name}: {task} {row['state']}{took}", flush=True)
            if finished(doc):
                break
            time.sleep(0.5)
        serving = next((m["serving"] for m in client.models() if m["name"] == req.model), None)
    finally:
        client.close()
    summary = conclude(_facts_from_service(url, name, req, doc, tasks, serving))
    print_summary(summary)
    return exit_code(summary)


def _facts_from_service(
    url: str, name: str, req: TrainingRequest, doc: dict[str, Any], tasks: dict[str, Any], serving: Any
) -> RunFacts:
    """What the service says about a finished run, and what its endpoint answers now."""
    from retrain.api.client import result_of
    from retrain.app.serving import live_version
    from retrain.app.trigger import RunFacts, TaskOutcome

    condition = doc["status"]["conditions"][0]
    params = {p["name"]: str(p.get("value", "")) for p in doc.get("spec", {}).get("params", [])}
    served_at = params.get("serving-url", "")
    version = result_of(doc, "model-version")
    state = "Succeeded" if condition.get("status") == "True" else "Failed"
    return RunFacts(
        run=name,
        model=req.model,
        run_state="Cancelled" if "Cancel" in str(condition.get("reason")) else state,
        condition={k: str(v) for k, v in condition.items()},
        tasks=tuple(
            TaskOutcome(task, row["state"], row.get("reason", ""), _seconds(row.get("duration", "-")))
            for task, row in tasks.items()
        ),
        version=int(version) if version and version.isdigit() else None,
        verdict=result_of(doc, "verdict"),
        serving_url=served_at,
        registry=f"the registry of the service at {url}",
        registry_serving=serving if isinstance(serving, int) else None,
        live=live_version(served_at, params.get("inference-service-name") or req.model)
        if served_at
        else None,
        failure=None,
    )


def _seconds(text: str) -> float | None:
    try:
        return float(text.rstrip("s"))
    except ValueError:
        return None


def register(app: typer.Typer) -> None:
    app.command("trigger")(trigger_command)
