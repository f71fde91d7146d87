"""`retrain trigger`: start model training the way the platform's trigger-model-training.sh did."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from retrain.cli.exits import EXIT_FAILED, EXIT_OK, exits

if TYPE_CHECKING:
    from retrain.app.requests import TrainingRequest
    from retrain.engine.engine import Engine, RunResult


def start_training(
    engine: Engine, req: TrainingRequest, registry: Path, *, show: bool = True
) -> tuple[RunResult, dict[str, Any]]:
    """Submit and run the request's pipeline; returns the result and a summary for printing."""
    from retrain.app.requests import local_pipelinerun
    from retrain.cli.live import execute_with_table

    pipeline = engine.catalog.pipeline(req.pipeline)
    run, host_dirs = local_pipelinerun(req, pipeline, registry, cwd=Path.cwd())
    sub = engine.submit(run, host_dirs=host_dirs)
    print(f"PipelineRun {sub.name} started ({req.pipeline}, model {req.model})", file=sys.stderr)
    result, table = asyncio.run(execute_with_table(engine, sub))
    return result, summarize(result, table, registry, req.model)


def summarize(result: RunResult, table: Any, registry: Path, model: str) -> dict[str, Any]:
    from retrain.registry import Registry

    version = next(
        (r["value"] for r in result.status_doc.get("results", []) if r["name"] == "model-version"), None
    )
    verdict = next((r["value"] for r in result.status_doc.get("results", []) if r["name"] == "verdict"), None)
    serving = Registry(registry).aliases(model).get("serving") if (registry / model).is_dir() else None
    return {
        "run": result.name,
        "status": result.reason,
        "message": result.message,
        "tasks": [
            {"task": r.task, "state": r.state, "duration": r.duration, "reason": r.reason}
            for r in table.rows.values()
        ],
        "version": version,
        "verdict": verdict,
        "serving_version": serving,
        "serves": version is not None and str(serving) == str(version),
    }


def print_summary(summary: dict[str, Any]) -> None:
    from retrain.cli.common import print_table

    print(f"\nPipelineRun {summary['run']}: {summary['status']} - {summary['message']}")
    print_table(
        ("TASK", "OUTCOME", "DURATION", "REASON"),
        [(t["task"], t["state"], t["duration"], t["reason"]) for t in summary["tasks"]],
    )
    if summary["version"] is None:
        print("no new version was registered")
        return
    serves = "now serves" if summary["serves"] else f"does not serve (serving: {summary['serving_version']})"
    print(f"new version {summary['version']} (gate: {summary['verdict'] or '-'}) {serves}")


def trigger_command(
    model: str = typer.Argument(..., help="anomaly-detector, predictive-analytics, or a custom model name."),
    training_hours: str = typer.Argument("168", help="Training window in hours."),
    data_source: str = typer.Argument("hybrid", help="synthetic, prometheus or hybrid."),
    notebook_path: str | None = typer.Option(None, "--notebook-path", help="Notebook (required for custom)."),
    inference_service: str | None = typer.Option(None, "--inference-service", help="Serving name (custom)."),
    gpu: bool | None = typer.Option(None, "--gpu/--cpu", help="Pick the GPU or CPU pipeline."),
    no_health_check: bool = typer.Option(False, "--no-health-check", help="Only load checks before deploy."),
    serving_url: str = typer.Option("http://127.0.0.1:8080", "--serving-url", help="Inference endpoint."),
    prometheus_url: str = typer.Option("", "--prometheus-url", envvar="PROMETHEUS_URL"),
    registry: Path | None = typer.Option(
        None, "--registry", envvar="RETRAIN_REGISTRY", help="Registry root."
    ),
    home: Path | None = typer.Option(None, "--home", envvar="RETRAIN_HOME", help="Data directory."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    cluster: bool = typer.Option(
        False, "--cluster", help="Start a PipelineRun on the kubeconfig's cluster (deploy target kserve)."
    ),
    claim: str = typer.Option("model-storage", "--claim", help="--cluster: the model-storage PVC."),
    namespace: str | None = typer.Option(None, "--namespace", "-n", help="--cluster: the namespace."),
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
) -> None:
    """Train MODEL with its built-in pipeline: gate, deploy if blessed, verify, roll back on failure."""
    from retrain.app.requests import TrainingRequest, check_request
    from retrain.cli.run import build_engine
    from retrain.registry import default_root

    with exits():
        req = TrainingRequest(
            model=model,
            training_hours=training_hours,
            data_source=data_source,
            notebook_path=notebook_path,
            inference_service=inference_service,
            gpu=gpu,
            health_check=not no_health_check,
            serving_url=serving_url,
            prometheus_url=prometheus_url,
        )
        check_request(req)
        if cluster:
            from retrain.cli.cluster_ops import trigger_on_cluster

            trigger_on_cluster(req, claim=claim, namespace=namespace, confirm=not yes)
            raise typer.Exit(EXIT_OK)
        url = None if local else service_url(service, explicit_dirs=registry is not None or home is not None)
        if url is not None:
            raise typer.Exit(trigger_via_service(url, token, req, confirm=not yes, detach=detach))
        root = (registry or default_root()).resolve()
        print(
            f"model: {model}\npipeline: {req.pipeline}\ntraining window: {training_hours} h\n"
            f"data source: {data_source}\nregistry: {root}\nserving: {serving_url}"
        )
        if not yes and not typer.confirm("Start training?", default=True):
            raise typer.Exit(EXIT_FAILED)
        engine = build_engine(home, "auto", quiet=True)
        result, summary = start_training(engine, req, root)
        print_summary(summary)
        raise typer.Exit(EXIT_OK if result.succeeded else EXIT_FAILED)


def service_url(explicit: str | None, *, explicit_dirs: bool) -> str | None:
    """--service, else the configured service when it answers and no local directories were given."""
    import os

    from retrain.api.client import DEFAULT_URL, ServiceClient

    if explicit:
        return explicit
    if explicit_dirs:
        return None
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

    from retrain.api.client import ServiceClient, finished, result_of, task_states

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
                    print(f"{name}: {task} {row['state']} {row['duration']}", flush=True)
            if finished(doc):
                break
            time.sleep(0.5)
        condition = doc["status"]["conditions"][0]
        version = result_of(doc, "model-version")
        serving = next((m["serving"] for m in client.models() if m["name"] == req.model), None)
    finally:
        client.close()
    print_summary(
        {
            "run": name,
            "status": condition.get("reason"),
            "message": condition.get("message"),
            "tasks": [{"task": t, **row} for t, row in tasks.items()],
            "version": version,
            "verdict": result_of(doc, "verdict"),
            "serving_version": serving,
            "serves": version is not None and str(serving) == str(version),
        }
    )
    return EXIT_OK if condition.get("status") == "True" else EXIT_FAILED


def register(app: typer.Typer) -> None:
    app.command("trigger")(trigger_command)
