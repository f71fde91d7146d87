"""`retrain train MODEL`: run the model's notebook on fresh data and register a candidate version.

A thin adapter over `retrain.app.train`: options in, the use case's result out (text or `-o json`), errors
mapped to exit codes by `retrain.cli.exits`; SIGTERM/SIGINT end it with 143/130 after the clean-up.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from retrain.app.train import Executor
from retrain.cli.common import Output
from retrain.cli.exits import exits

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgressBar

    from retrain.app.train import TrainResult
    from retrain.training.progress import Progress

HEADLINE_METRICS = ("f1", "precision", "recall", "roc_auc", "r2", "skill", "mae", "rmse")


class RichProgress:
    """Steps as Rich progress rows on a terminal (one row per step, cells counted while a notebook runs)."""

    def __init__(self, bar: RichProgressBar) -> None:
        self._bar = bar
        self._task: Any = None
        self._step = ""

    def begin(self, step: str, total: int | None = None) -> None:
        self._step = step
        self._task = self._bar.add_task(step, total=total)

    def update(self, completed: int, total: int | None, detail: str) -> None:
        self._bar.update(self._task, completed=completed, total=total, description=f"{self._step}: {detail}")

    def end(self, step: str, summary: str) -> None:
        total = self._bar.tasks[-1].total or 1
        self._bar.update(self._task, total=total, completed=total, description=f"{step}: {summary}")


@contextmanager
def _reporting() -> Iterator[Progress]:
    """A Rich display when stderr is a terminal, plain log lines otherwise; the handler is removed after."""
    from retrain.training.progress import LogProgress

    logger = logging.getLogger("retrain")
    logging.getLogger("papermill").setLevel(logging.WARNING)  # its INFO lines repeat what we say
    previous = logger.level
    logger.setLevel(logging.INFO)
    handler: logging.Handler
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.logging import RichHandler
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        console = Console(stderr=True)
        handler = RichHandler(console=console, show_path=False)
        logger.addHandler(handler)
        bar = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
        )
        try:
            with bar:
                yield RichProgress(bar)
        finally:
            logger.removeHandler(handler)
            logger.setLevel(previous)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    logger.addHandler(handler)
    try:
        yield LogProgress(logging.getLogger("retrain.training"))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def _parameters(items: list[str]) -> dict[str, str]:
    from retrain.errors import InvalidInput, Location

    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise InvalidInput(
                f"cannot read notebook parameter {item!r}",
                location=Location(field="--param"),
                hint="write it as -p NAME=VALUE with NAME a Python identifier",
            )
        out[key] = value
    return out


def _summary(result: TrainResult) -> dict[str, Any]:
    return {
        "model": result.model,
        "version": result.version,
        "artefact": str(result.path),
        "serving": result.serving,
        "outcome": result.outcome,
        "reason": result.reason,
        "next_action": result.next_action,
        "metrics": dict(result.metrics),
        "data": result.data,
        "gpu": result.gpu,
        "executed_notebook": None if result.executed_notebook is None else str(result.executed_notebook),
        "job": result.job,
        "seconds": dict(result.seconds),
    }


def _print_text(result: TrainResult) -> None:
    serving = "none" if result.serving is None else f"version {result.serving}"
    typer.echo(
        f"registered {result.model} version {result.version} (candidate; serving: {serving}, unchanged)"
    )
    typer.echo(f"  artefact: {result.path}")
    metrics = result.metrics
    keys = [k for k in HEADLINE_METRICS if k in metrics] or [
        k for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)
    ][:6]
    shown = " ".join(
        f"{k}={metrics[k]:.4g}" if isinstance(metrics[k], float) else f"{k}={metrics[k]}" for k in keys
    )
    if shown:
        typer.echo(f"  metrics:  {shown}")
    gpu = result.gpu or {}
    if gpu.get("gpu_requested") and not gpu.get("gpu_used"):
        typer.echo(f"  gpu:      not used ({gpu.get('gpu_fallback_reason')})")
    if result.executed_notebook is not None:
        typer.echo(f"  notebook: {result.executed_notebook}")
    if result.job is not None:
        typer.echo(f"  notebook validation job: {result.job}")
    typer.echo(f"  next:     {result.next_action}")


def train_command(
    model: Annotated[
        str, typer.Argument(help="anomaly-detector, predictive-analytics, or any name with --notebook-path.")
    ],
    hours: Annotated[
        float | None,
        typer.Option("--hours", help="Training window in hours (default 24; 168 for predictive-analytics)."),
    ] = None,
    data_source: Annotated[
        str, typer.Option("--data-source", help="synthetic, prometheus or hybrid.")
    ] = "synthetic",
    notebook_path: Annotated[
        Path | None, typer.Option("--notebook-path", help="Notebook to run (required for a custom model).")
    ] = None,
    gpu: Annotated[bool, typer.Option("--gpu", help="Train on a CUDA GPU when there is one.")] = False,
    registry: Annotated[
        Path | None,
        typer.Option("--registry", help="Registry root (default: $RETRAIN_REGISTRY or the data home)."),
    ] = None,
    prometheus_url: Annotated[
        str | None, typer.Option("--prometheus-url", help="Prometheus base URL (default: $PROMETHEUS_URL).")
    ] = None,
    anomaly_rate: Annotated[
        float | None, typer.Option("--anomaly-rate", help="Synthetic anomaly share (default 0.03).")
    ] = None,
    horizon_minutes: Annotated[
        int, typer.Option("--horizon-minutes", help="predictive-analytics: minutes ahead.")
    ] = 60,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic data and the model.")] = 42,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="Extra notebook parameter NAME=VALUE.")
    ] = None,
    run: Annotated[
        str | None,
        typer.Option("--run", envvar="RETRAIN_RUN_NAME", help="The run that trains (recorded in metadata)."),
    ] = None,
    results_dir: Annotated[
        Path | None,
        typer.Option(
            "--results-dir",
            envvar="RETRAIN_RESULTS_DIR",
            help="Write the Tekton results model-version and model-path here.",
        ),
    ] = None,
    log_dir: Annotated[
        Path | None,
        typer.Option(
            "--log-dir",
            envvar="RETRAIN_LOG_DIR",
            help="Also keep the executed notebook and kernel log here (the registry keeps the notebook).",
        ),
    ] = None,
    work_dir: Annotated[
        Path | None,
        typer.Option(
            "--work-dir", help="Scratch space (default: <registry>/.staging; removed after the run)."
        ),
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds the whole notebook may run.")] = 3600.0,
    cell_timeout: Annotated[
        float | None, typer.Option("--cell-timeout", help="Seconds any one cell may run.")
    ] = None,
    output: Annotated[Output, typer.Option("--output", "-o", help="Output format.")] = Output.text,
    executor: Annotated[
        Executor,
        typer.Option(
            "--executor",
            envvar="RETRAIN_TRAIN_EXECUTOR",
            help="local, or notebook-validation-job: a NotebookValidationJob on the cluster runs the "
            "notebook "
            "from git (--git-url/--git-ref; --notebook-path is its path in the repository) and the result "
            "is registered from the claim mounted at --registry.",
        ),
    ] = Executor.local,
    git_url: Annotated[
        str,
        typer.Option("--git-url", envvar="RETRAIN_NOTEBOOK_GIT_URL", help="notebook-validation-job: repo."),
    ] = "",
    git_ref: Annotated[
        str,
        typer.Option("--git-ref", envvar="RETRAIN_NOTEBOOK_GIT_REF", help="notebook-validation-job: ref."),
    ] = "main",
    image: Annotated[
        str, typer.Option("--image", envvar="RETRAIN_NOTEBOOK_IMAGE", help="notebook-validation-job: image.")
    ] = "quay.io/retrain/retrain:0.1.0",
    claim: Annotated[
        str,
        typer.Option(
            "--claim", envvar="RETRAIN_MODEL_STORAGE_CLAIM", help="notebook-validation-job: the PVC."
        ),
    ] = "model-storage",
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="notebook-validation-job: the namespace.")
    ] = None,
    git_secret: Annotated[
        str,
        typer.Option(
            "--git-secret",
            envvar="RETRAIN_NOTEBOOK_GIT_SECRET",
            help="notebook-validation-job: a Secret with the git credentials.",
        ),
    ] = "",
    job_pod_config: Annotated[
        str,
        typer.Option(
            "--job-pod-config",
            envvar="RETRAIN_NOTEBOOK_POD_CONFIG",
            help="notebook-validation-job: JSON podConfig additions (resources, nodeSelector, tolerations, "
            "env, volumes, volumeMounts, serviceAccountName).",
        ),
    ] = "",
) -> None:
    """Train MODEL by running its notebook on fresh data; register the result as a candidate version.

    Never changes the serving version. Exit status: 0 registered, 2 bad input, 75 temporary (e.g.
    Prometheus unreachable), 1 the notebook or its model failed; nothing is registered on failure.
    """
    with exits():
        from retrain.app.train import JobOptions, Terminated, TrainRequest, train, write_results

        request = TrainRequest(
            model=model,
            hours=hours,
            data_source=data_source,
            notebook=notebook_path,
            gpu=gpu,
            registry=registry,
            prometheus_url=prometheus_url,
            anomaly_rate=anomaly_rate,
            horizon_minutes=horizon_minutes,
            seed=seed,
            parameters=_parameters(param or []),
            run=run,
            log_dir=log_dir,
            work_dir=work_dir,
            timeout_s=timeout,
            cell_timeout_s=cell_timeout,
            executor=executor,
            job=JobOptions(
                git_url=git_url,
                git_ref=git_ref,
                git_secret=git_secret or None,
                image=image,
                claim=claim,
                namespace=namespace,
                pod_config=job_pod_config,
            ),
        )
        try:
            with _reporting() as progress:
                result = train(request, progress=progress, on_note=lambda line: print(line, file=sys.stderr))
        except (Terminated, KeyboardInterrupt) as stop:
            code = stop.exit_code if isinstance(stop, Terminated) else 130
            why = stop.name if isinstance(stop, Terminated) else "SIGINT"
            print(f"error: training stopped by {why}; nothing was registered", file=sys.stderr)
            raise typer.Exit(code) from None
        if results_dir is not None:
            write_results(results_dir, result)
        if output is Output.json:
            typer.echo(json.dumps(_summary(result), indent=2, default=str))
        else:
            _print_text(result)


def register(app: typer.Typer) -> None:
    app.command("train", no_args_is_help=True)(train_command)
