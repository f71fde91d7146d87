"""Training: fetch data -> run the notebook in a scratch MODEL_DIR -> check model.pkl -> register.

It registers a *candidate* version and never touches an alias: promotion is the gate's and deploy's job.
Everything that can be refused is refused before any work starts (InvalidInput); a failure at any later
point leaves the registry as it was (the version is registered last, in one atomic step, together with the
executed notebook). The run's scratch directory lives under `<registry>/.staging/` (or `work_dir`) and is
removed on success, failure and SIGTERM/SIGINT (see `retrain.training.interrupts`); after a SIGKILL the next
training sweeps it (`retrain.registry.staging`). A failed notebook is kept (`retrain.training.keep`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrain.data.contracts import BUILTIN_MODELS, DEFAULT_HORIZON_MINUTES, FeatureContract, builtin_contract
from retrain.data.settings import DataSettings
from retrain.data.sources import Dataset, DatasetInfo, check_hours, check_source, fetch
from retrain.errors import InvalidInput, Location
from retrain.registry import NewVersionMetadata, Registry, VersionInfo
from retrain.registry.layout import EXECUTED_NOTEBOOK, check_model_name
from retrain.registry.staging import scratch_dir, staging_dir
from retrain.training.builtin import builtin_notebook, check_window, default_hours, grid_seconds
from retrain.training.gpu import CudaStatus, DevicePlan, detect_cuda, plan_device
from retrain.training.handoff import data_settings, dump_dataset
from retrain.training.keep import keep_failed, keep_logs
from retrain.training.notebooks import (
    CellTiming,
    NotebookFailed,
    NotebookJob,
    NotebookResult,
    read_notebook,
    run_notebook,
)
from retrain.training.progress import NoProgress, Progress
from retrain.training.validate import read_outputs

log = logging.getLogger("retrain.training")
SCRATCH_PREFIX = "train-"
Fetcher = Callable[[str, str, float, DataSettings], Dataset]


@dataclass(frozen=True)
class TrainRequest:
    model: str
    hours: float | None = None  # None: the model's default (24 h; 168 h for predictive-analytics)
    data_source: str = "synthetic"
    notebook: Path | None = None  # None: the built-in notebook (built-in models only)
    gpu: bool = False
    prometheus_url: str | None = None
    anomaly_rate: float | None = None  # None: $ANOMALY_RATE or 0.03
    horizon_minutes: int = DEFAULT_HORIZON_MINUTES
    seed: int = 42
    parameters: Mapping[str, Any] = field(default_factory=dict)  # more notebook parameters (always passed)
    run: str | None = None  # None: $RETRAIN_RUN_NAME
    log_dir: Path | None = None  # also keep the executed notebook and kernel log here
    work_dir: Path | None = None  # parent of the run's scratch directory; None: <registry>/.staging
    timeout_s: float | None = 3600.0
    cell_timeout_s: float | None = None


@dataclass(frozen=True)
class TrainOutcome:
    version: VersionInfo
    serving: int | None  # the serving version, unchanged by training
    executed_notebook: Path  # the copy stored with the version in the registry
    kernel_log: Path | None  # kept only with --log-dir
    metrics: dict[str, Any]
    cells: tuple[CellTiming, ...]
    data: DatasetInfo | None
    device: DevicePlan | None
    seconds: dict[str, float]


def _fmt(value: float) -> str:
    return f"{value:g}"


def _unknown_model(model: str) -> InvalidInput:
    from retrain.data.contracts import unknown_name

    err = unknown_name("model", model, BUILTIN_MODELS, field="model-name")
    err.hint = f"{err.hint}; or give --notebook-path NOTEBOOK to train a custom model named {model!r}"
    return err


def _check_timeouts(request: TrainRequest) -> None:
    for name, value in (("timeout", request.timeout_s), ("cell-timeout", request.cell_timeout_s)):
        if value is not None and not value > 0:
            raise InvalidInput(f"--{name} must be positive, got {value:g}", location=Location(field=name))


def train(
    request: TrainRequest,
    registry: Registry,
    *,
    environ: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    fetcher: Fetcher = fetch,
    detect: Callable[[], CudaStatus] = detect_cuda,
) -> TrainOutcome:
    env = dict(os.environ if environ is None else environ)
    steps = progress or NoProgress()
    model = check_model_name(request.model)
    builtin = model in BUILTIN_MODELS
    if not builtin and request.notebook is None:
        raise _unknown_model(model)
    check_source(request.data_source)
    hours = check_hours(
        request.hours if request.hours is not None else default_hours(model), grid_seconds(model)
    )
    check_window(model, hours, request.horizon_minutes)
    _check_timeouts(request)
    notebook = (request.notebook or builtin_notebook(model)).resolve()
    read_notebook(notebook)  # refuses a missing or unreadable notebook now, before any work
    settings = data_settings(
        env, prometheus_url=request.prometheus_url, anomaly_rate=request.anomaly_rate, seed=request.seed
    )
    contract = builtin_contract(model, horizon_minutes=request.horizon_minutes) if builtin else None
    run = request.run or env.get("RETRAIN_RUN_NAME") or None

    parent = request.work_dir if request.work_dir is not None else staging_dir(registry.root)
    with scratch_dir(parent, f"{SCRATCH_PREFIX}{model}-") as run_dir:
        job = _Job(request, registry, model, builtin, hours, notebook, settings, contract, run, run_dir)
        try:
            return job.execute(steps, fetcher, detect)
        except NotebookFailed as err:
            kept = keep_failed(job.executed, model, log_dir=request.log_dir, parent=parent)
            raise (err.kept_at(kept) if kept is not None else err) from None


@dataclass
class _Job:
    """One training inside its scratch directory (removed by the caller, whatever happens)."""

    request: TrainRequest
    registry: Registry
    model: str
    builtin: bool
    hours: float
    notebook: Path
    settings: DataSettings
    contract: FeatureContract | None
    run_name: str | None
    run_dir: Path

    @property
    def executed(self) -> Path:
        return self.run_dir / EXECUTED_NOTEBOOK

    def execute(self, steps: Progress, fetcher: Fetcher, detect: Callable[[], CudaStatus]) -> TrainOutcome:
        request, model, settings = self.request, self.model, self.settings
        model_dir, data_file = self.run_dir / "model", self.run_dir / "dataset.pkl"
        model_dir.mkdir()
        seconds: dict[str, float] = {}
        dataset: Dataset | None = None
        if self.builtin:
            steps.begin("fetch data")
            started = time.monotonic()
            dataset = fetcher(model, request.data_source, self.hours, settings)
            dump_dataset(dataset, data_file)
            seconds["fetch"] = time.monotonic() - started
            if dataset.fallback_reason:
                log.warning("data source %s fell back: %s", request.data_source, dataset.fallback_reason)
            steps.end("fetch data", f"{dataset.rows} rows from {dataset.source_effective}")

        device = _device(model, request.gpu, detect) if request.gpu else None
        parameters: dict[str, Any] = {
            "model_name": model,
            "data_source": request.data_source,
            "training_hours": self.hours,
            "anomaly_rate": settings.synthetic.anomaly_rate,
            "seed": request.seed,
            "prometheus_url": settings.prometheus.url,
            "horizon_minutes": request.horizon_minutes,
            "gpu": request.gpu,
            "data_path": str(data_file) if self.builtin else "",
        }
        parameters.update(request.parameters)
        contract_env = {
            "MODEL_NAME": model,
            "MODEL_DIR": str(model_dir),
            "DATA_SOURCE": request.data_source,
            "TRAINING_HOURS": _fmt(self.hours),
            "TRAINING_DAYS": _fmt(self.hours / 24),
            "PROMETHEUS_URL": settings.prometheus.url,
            "ANOMALY_RATE": _fmt(settings.synthetic.anomaly_rate),
            "SYNTHETIC_SEED": str(request.seed),
            **({"RETRAIN_RUN_NAME": self.run_name} if self.run_name else {}),
        }
        job = NotebookJob(
            notebook=self.notebook,
            output=self.executed,
            parameters=parameters,
            env=contract_env,
            timeout_s=request.timeout_s,
            cell_timeout_s=request.cell_timeout_s,
            strict=frozenset(request.parameters),
            runtime_dir=self.run_dir / "kernel",
        )
        name = self.notebook.name
        steps.begin(f"run notebook {name}")
        result = run_notebook(job, on_cell=steps.update)
        seconds["notebook"] = result.duration_s
        steps.end(f"run notebook {name}", f"{len(result.cells)} cells in {result.duration_s:.1f} s")
        kernel_log = keep_logs(result, model, request.log_dir)

        steps.begin("check model")
        outputs = read_outputs(model_dir, notebook=self.notebook, contract=self.contract)
        steps.end("check model", f"{type(outputs.model).__name__} answers the feature contract")

        steps.begin("register")
        metrics = dict(outputs.metrics)
        if device is not None and "gpu_requested" not in metrics:
            metrics.update(device.as_metrics())
        data = outputs.training.get("data") or (dataset.info() if dataset is not None else None)
        meta = NewVersionMetadata(
            trainer=outputs.training.get("trainer") or f"notebook:{name}",
            notebook_path=self.notebook,
            data_source_requested=request.data_source,
            data_source_effective=data["data_source_effective"] if data else None,
            training_hours=self.hours,
            window_start=dataset.start if dataset is not None else None,
            window_end=dataset.end if dataset is not None else None,
            rows=_rows(outputs.training.get("rows"), dataset),
            feature_contract=outputs.contract.to_json() if outputs.contract is not None else None,
            metrics=metrics,
            run=self.run_name,
            extra=_extra(outputs.training, data, result, device=device, contract=outputs.contract),
        )
        version = self.registry.register(
            model, outputs.artefact, meta, executed_notebook=self.executed, expected_sha256=outputs.sha256
        )
        steps.end("register", f"{model} version {version.version} (candidate)")
        serving = self.registry.aliases(model).get("serving")
        executed = version.executed_notebook or self.executed
        return TrainOutcome(
            version, serving, executed, kernel_log, metrics, result.cells, data, device, seconds
        )


def _device(model: str, gpu: bool, detect: Callable[[], CudaStatus]) -> DevicePlan:
    """The orchestrator's view of --gpu (the notebook decides again in its kernel, on the same machine)."""
    if model == "anomaly-detector":
        reason = "anomaly-detector trains on the CPU only (IsolationForest has no GPU implementation)"
        log.warning("--gpu ignored: %s", reason)
        return DevicePlan(gpu, False, reason)
    plan = plan_device(gpu, detect())
    if plan.gpu_requested and not plan.gpu_used:
        log.warning(
            "GPU training was requested but is not possible, training on the CPU: %s", plan.fallback_reason
        )
    return plan


def _rows(stated: Mapping[str, int] | None, dataset: Dataset | None) -> dict[str, int]:
    rows = {str(k): int(v) for k, v in (stated or {}).items()}
    if dataset is not None:
        rows["fetched"] = dataset.rows
    return rows


def _extra(
    training: Mapping[str, Any],
    data: DatasetInfo | None,
    result: NotebookResult,
    *,
    device: DevicePlan | None,
    contract: FeatureContract | None,
) -> dict[str, Any]:
    extra: dict[str, Any] = {
        "notebook_parameters": dict(result.parameters),
        "notebook_seconds": round(result.duration_s, 3),
        "cells": [
            {
                "index": c.index,
                "kind": c.kind,
                "status": c.status,
                "seconds": c.duration_s,
                "source": c.first_line,
            }
            for c in result.cells
        ],
        "data_fallback_reason": data.get("fallback_reason") if data else None,
    }
    if "reference" in training:
        extra["reference"] = training["reference"]
    if device is not None:
        extra["gpu"] = device.as_metrics()
    if contract is not None and contract.horizon_minutes is not None:
        extra["horizon_minutes"] = contract.horizon_minutes
    return extra
