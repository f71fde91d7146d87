"""`retrain train MODEL`: run the model's notebook on fresh data and register a candidate version."""

from __future__ import annotations

import enum
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from retrain.cli.common import Output
from retrain.cli.exits import exits

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgressBar

    from retrain.training.progress import Progress
    from retrain.training.train import TrainOutcome

HEADLINE_METRICS = ("f1", "precision", "recall", "roc_auc", "r2", "skill", "mae", "rmse")


class Executor(enum.StrEnum):
    local = "local"  # papermill in this process's environment (the step container on a cluster)
    notebook_validation_job = "notebook-validation-job"  # the Jupyter Notebook Validator Operator


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


def _summary(outcome: TrainOutcome) -> dict[str, Any]:
    return {
        "model": outcome.version.model,
        "version": outcome.version.version,
        "artefact": str(outcome.version.artefact),
        "serving": outcome.serving,
        "metrics": outcome.metrics,
        "data": outcome.data,
        "gpu": None if outcome.device is None else outcome.device.as_metrics(),
        "executed_notebook": str(outcome.executed_notebook),
        "seconds": {k: round(v, 3) for k, v in outcome.seconds.items()},
    }


def _print_text(outcome: TrainOutcome) -> None:
    serving = "none" if outcome.serving is None else f"version {outcome.serving}"
    info = outcome.version
    typer.echo(f"registered {info.model} version {info.version} (candidate; serving: {serving}, unchanged)")
    typer.echo(f"  artefact: {info.artefact}")
    metrics = outcome.metrics
    keys = [k for k in HEADLINE_METRICS if k in metrics] or [
        k for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)
    ][:6]
    shown = " ".join(
        f"{k}={metrics[k]:.4g}" if isinstance(metrics[k], float) else f"{k}={metrics[k]}" for k in keys
    )
    if shown:
        typer.echo(f"  metrics:  {shown}")
    if outcome.device is not None and outcome.device.gpu_requested and not outcome.device.gpu_used:
        typer.echo(f"  gpu:      not used ({outcome.device.fallback_reason})")
    typer.echo(f"  notebook: {outcome.executed_notebook}")


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
        typer.Option("--log-dir", envvar="RETRAIN_LOG_DIR", help="Keep the executed notebook here."),
    ] = None,
    work_dir: Annotated[
        Path | None, typer.Option("--work-dir", help="Scratch space (default: the system temp directory).")
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
) -> None:
    """Train MODEL by running its notebook on fresh data; register the result as a candidate version.

    Never changes the serving version. Exit status: 0 registered, 2 bad input, 75 temporary (e.g.
    Prometheus unreachable), 1 the notebook or its model failed; nothing is registered on failure.
    """
    if executor is Executor.notebook_validation_job:
        with exits():
            from retrain.cli.cluster_ops import train_with_job_command

            train_with_job_command(
                model,
                hours=hours,
                data_source=data_source,
                notebook_path=notebook_path,
                gpu=gpu,
                registry=registry,
                prometheus_url=prometheus_url,
                anomaly_rate=anomaly_rate,
                seed=seed,
                run=run,
                results_dir=results_dir,
                timeout=timeout,
                git_url=git_url,
                git_ref=git_ref,
                image=image,
                claim=claim,
                namespace=namespace,
                as_json=output is Output.json,
            )
        return
    with exits():
        from retrain.registry import Registry, default_root
        from retrain.training.train import TrainRequest, train, write_results

        request = TrainRequest(
            model=model,
            hours=hours,
            data_source=data_source,
            notebook=notebook_path,
            gpu=gpu,
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
        )
        with _reporting() as progress:
            outcome = train(request, Registry(registry or default_root()), progress=progress)
        if results_dir is not None:
            write_results(results_dir, outcome)
        if output is Output.json:
            typer.echo(json.dumps(_summary(outcome), indent=2, default=str))
        else:
            _print_text(outcome)


def register(app: typer.Typer) -> None:
    app.command("train", no_args_is_help=True)(train_command)
