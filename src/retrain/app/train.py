"""The train use case: a frozen request in, a frozen result out (the version, where it is, what to do next).

Two executors: `local` runs the notebook here (papermill, `retrain.training.train`), `notebook-validation-job`
has the Jupyter Notebook Validator Operator run it on the cluster (`retrain.cluster.nbjob`). Choosing between
them is composition, so it lives here. Either way a *candidate* version is registered and the serving one is
left alone; every failure is a RetrainError (its hint is the next action) and registers nothing.

SIGTERM and SIGINT raise `Terminated` while a local training runs (main thread only), so its scratch
directory and notebook kernel are removed before the process ends.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrain.training.interrupts import Terminated, terminating

if TYPE_CHECKING:
    from retrain.registry import Registry
    from retrain.training.progress import Progress
    from retrain.training.train import TrainOutcome

__all__ = ["Executor", "JobOptions", "Terminated", "TrainRequest", "TrainResult", "train", "write_results"]

NoteSink = Callable[[str], None]
REPO_NOTEBOOKS = "src/retrain/catalog/notebooks"  # the built-in notebooks' path in the git repository


class Executor(enum.StrEnum):
    local = "local"  # papermill in this process's environment (the step container on a cluster)
    notebook_validation_job = "notebook-validation-job"  # the Jupyter Notebook Validator Operator


@dataclass(frozen=True)
class JobOptions:
    """Where a NotebookValidationJob gets the notebook and runs it (executor notebook-validation-job)."""

    git_url: str = ""
    git_ref: str = "main"
    git_secret: str | None = None  # a Secret with the git credentials (a private repository)
    image: str = "quay.io/retrain/retrain:0.1.0"
    claim: str = "model-storage"
    namespace: str | None = None
    pod_config: str = ""  # JSON: the site's podConfig additions (`retrain.cluster.nbjob_pod`)


@dataclass(frozen=True)
class TrainRequest:
    model: str
    hours: float | None = None  # None: the model's default
    data_source: str = "synthetic"
    notebook: Path | None = None  # None: the built-in notebook (built-in models only)
    gpu: bool = False
    registry: Path | None = None  # None: $RETRAIN_REGISTRY or the data home's registry
    prometheus_url: str | None = None
    anomaly_rate: float | None = None
    horizon_minutes: int = 60
    seed: int = 42
    parameters: Mapping[str, str] = field(default_factory=dict)
    run: str | None = None
    log_dir: Path | None = None
    work_dir: Path | None = None  # None: <registry>/.staging
    timeout_s: float = 3600.0
    cell_timeout_s: float | None = None
    executor: Executor = Executor.local
    job: JobOptions = field(default_factory=JobOptions)


@dataclass(frozen=True)
class TrainResult:
    model: str
    version: int
    path: Path  # the candidate's model.pkl in the registry (the Tekton result `model-path`)
    serving: int | None  # unchanged by training
    outcome: str  # "registered"
    reason: str
    next_action: str
    metrics: Mapping[str, Any] = field(default_factory=dict)
    executed_notebook: Path | None = None  # stored with the version (local executor)
    data: Mapping[str, Any] | None = None
    gpu: Mapping[str, Any] | None = None
    seconds: Mapping[str, float] = field(default_factory=dict)
    job: str | None = None  # the NotebookValidationJob's name


def _registry(root: Path | None) -> Registry:
    from retrain.registry import Registry, default_root

    return Registry(root if root is not None else default_root())


def train(
    request: TrainRequest, *, progress: Progress | None = None, on_note: NoteSink | None = None
) -> TrainResult:
    """Train and register a candidate; raise a RetrainError (nothing registered) or Terminated."""
    registry = _registry(request.registry)
    if request.executor is Executor.notebook_validation_job:
        return _train_with_job(request, registry, on_note or (lambda _: None))
    from retrain.training.train import TrainRequest as LocalRequest
    from retrain.training.train import train as train_here

    local = LocalRequest(
        model=request.model,
        hours=request.hours,
        data_source=request.data_source,
        notebook=request.notebook,
        gpu=request.gpu,
        prometheus_url=request.prometheus_url,
        anomaly_rate=request.anomaly_rate,
        horizon_minutes=request.horizon_minutes,
        seed=request.seed,
        parameters=dict(request.parameters),
        run=request.run,
        log_dir=request.log_dir,
        work_dir=request.work_dir,
        timeout_s=request.timeout_s,
        cell_timeout_s=request.cell_timeout_s,
    )
    with terminating():
        return _result(train_here(local, registry, progress=progress))


def _next(model: str, version: int) -> str:
    return f"check it: retrain check {model} --version {version}"


def _result(outcome: TrainOutcome) -> TrainResult:
    info = outcome.version
    return TrainResult(
        model=info.model,
        version=info.version,
        path=info.artefact,
        serving=outcome.serving,
        outcome="registered",
        reason="candidate version registered; the serving version is unchanged",
        next_action=_next(info.model, info.version),
        metrics=dict(outcome.metrics),
        executed_notebook=outcome.executed_notebook,
        data=dict(outcome.data) if outcome.data is not None else None,
        gpu=None if outcome.device is None else outcome.device.as_metrics(),
        seconds={k: round(v, 3) for k, v in outcome.seconds.items()},
    )


def _train_with_job(request: TrainRequest, registry: Registry, note: NoteSink) -> TrainResult:
    """The notebook runs in the operator's pod; what it wrote is checked and registered here."""
    from retrain.cluster.client import ClusterSettings, connect
    from retrain.cluster.nbjob import NotebookJobRequest, train_with_job
    from retrain.cluster.nbjob_pod import parse_pod_config
    from retrain.data.contracts import BUILTIN_MODELS, builtin_contract
    from retrain.errors import InvalidInput, Location
    from retrain.training.builtin import default_hours

    model, options = request.model, request.job
    pod = parse_pod_config(options.pod_config)  # bad JSON is refused before any job is created
    builtin = model in BUILTIN_MODELS
    if request.notebook is not None:
        path = str(request.notebook)
    elif builtin:
        path = f"{REPO_NOTEBOOKS}/{model}.ipynb"
    else:
        raise InvalidInput(
            f"{model!r} is not a built-in model, so it needs --notebook-path "
            "(its path in the git repository)",
            location=Location(field="--notebook-path"),
        )
    window = request.hours if request.hours is not None else default_hours(model)
    env = {
        "DATA_SOURCE": request.data_source,
        "TRAINING_HOURS": f"{window:g}",
        "TRAINING_DAYS": f"{window / 24:g}",
        "SYNTHETIC_SEED": str(request.seed),
        "HORIZON_MINUTES": str(request.horizon_minutes),
        "USE_GPU": "true" if request.gpu else "false",  # the built-in notebooks read these defaults
    }
    if request.prometheus_url:
        env["PROMETHEUS_URL"] = request.prometheus_url
    if request.anomaly_rate is not None:
        env["ANOMALY_RATE"] = f"{request.anomaly_rate:g}"
    job_request = NotebookJobRequest(
        model=model,
        notebook_path=path,
        git_url=options.git_url,
        git_ref=options.git_ref,
        git_secret=options.git_secret,
        image=options.image,
        claim=options.claim,
        timeout_s=request.timeout_s,
        env=env,
        run=request.run,
        resources=pod.resources or ({"limits": {"nvidia.com/gpu": "1"}} if request.gpu else None),
        node_selector=pod.node_selector,
        tolerations=pod.tolerations,
        service_account=pod.service_account,
        extra_env=pod.env,
        extra_volumes=pod.volumes,
        extra_mounts=pod.volume_mounts,
    )
    with connect(ClusterSettings(namespace=options.namespace)) as cluster:
        note(
            f"NotebookValidationJob for {model} in {cluster.namespace} "
            f"({options.git_url}@{options.git_ref}:{path})"
        )
        outcome = train_with_job(
            job_request,
            registry,
            cluster,
            contract=builtin_contract(model) if builtin else None,
            data_source=request.data_source,
            training_hours=window,
        )
    info = outcome.version
    return TrainResult(
        model=model,
        version=info.version,
        path=info.artefact,
        serving=outcome.serving,
        outcome="registered",
        reason=f"candidate version registered from NotebookValidationJob {outcome.job}; serving is unchanged",
        next_action=_next(model, info.version),
        metrics=dict(info.metadata.get("metrics") or {}),
        job=outcome.job,
    )


def write_results(directory: Path, result: TrainResult) -> None:
    """Tekton results `model-version` and `model-path` (no trailing newline, as Tekton reads them)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model-version").write_text(str(result.version), encoding="utf-8")
    (directory / "model-path").write_text(str(result.path), encoding="utf-8")
