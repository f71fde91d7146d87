"""`retrain trigger`: start model training the way the platform's trigger-model-training.sh did."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from retrain.cli.exits import EXIT_FAILED, EXIT_OK, exits

if TYPE_CHECKING:
    from retrain.engine.engine import Engine, RunResult
    from retrain.triggers.requests import TrainingRequest


def start_training(
    engine: Engine, req: TrainingRequest, registry: Path, *, show: bool = True
) -> tuple[RunResult, dict[str, Any]]:
    """Submit and run the request's pipeline; returns the result and a summary for printing."""
    from retrain.cli.live import execute_with_table
    from retrain.triggers.requests import local_pipelinerun

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
) -> None:
    """Train MODEL with its built-in pipeline: gate, deploy if blessed, verify, roll back on failure."""
    from retrain.cli.run import build_engine
    from retrain.registry import default_root
    from retrain.triggers.requests import TrainingRequest, check_request

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


def register(app: typer.Typer) -> None:
    app.command("trigger")(trigger_command)
