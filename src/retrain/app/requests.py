"""A request to train a model, and the Tekton PipelineRun that carries it out.

Every trigger (the CLI, a cron schedule, a git push, a drift alert, the HTTP API) describes what it wants as a
`TrainingRequest`; `pipelinerun_for` turns it into a PipelineRun of a built-in pipeline, with the params the
platform's pipelines have always had and the timeouts the catalog declares.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from retrain.errors import InvalidInput, Location
from retrain.tekton.model import Pipeline, PipelineRun

TRAINING_PIPELINE = "model-training-pipeline"
GPU_TRAINING_PIPELINE = "model-training-pipeline-gpu"
HEALTH_CHECK_PIPELINE = "model-health-check-pipeline"
# The platform's defaults: the anomaly detector trains on CPU, the forecaster on the GPU pipeline.
BUILTIN_GPU = {"anomaly-detector": False, "predictive-analytics": True}
DATA_SOURCES = ("synthetic", "prometheus", "hybrid")
TIMEOUT_ANNOTATION = "retrain.dev/pipeline-timeout"
Trigger = Literal["manual", "cron", "git-push", "drift-alert", "api"]


@dataclass(frozen=True)
class TrainingRequest:
    model: str
    training_hours: str = "168"
    data_source: str = "hybrid"
    notebook_path: str | None = None
    inference_service: str | None = None
    gpu: bool | None = None  # None: the model's default pipeline
    health_check: bool = True
    deploy_target: str = "local"
    serving_url: str = ""  # empty: registry only (no server told, no live check)
    prometheus_url: str = ""
    pushgateway_url: str = ""
    verify_timeout_s: float = 60.0
    trigger: Trigger = "manual"
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)  # e.g. a retry backoff for this run

    @property
    def pipeline(self) -> str:
        gpu = BUILTIN_GPU.get(self.model, False) if self.gpu is None else self.gpu
        return GPU_TRAINING_PIPELINE if gpu else TRAINING_PIPELINE


def check_request(req: TrainingRequest) -> None:
    """The rules of the platform's trigger script, with messages that say how to fix the call."""
    if req.model not in BUILTIN_GPU:
        missing = [
            flag
            for flag, value in (
                ("--notebook-path", req.notebook_path),
                ("--inference-service", req.inference_service),
            )
            if not value
        ]
        if missing:
            close = difflib.get_close_matches(req.model, list(BUILTIN_GPU), n=1)
            hint = f'did you mean "{close[0]}"?' if close else "built-in models: " + ", ".join(BUILTIN_GPU)
            raise InvalidInput(
                f'"{req.model}" is not a built-in model, so it needs {" and ".join(missing)}',
                location=Location(field="model"),
                hint=hint,
            )
    if req.data_source not in DATA_SOURCES:
        close = difflib.get_close_matches(req.data_source, DATA_SOURCES, n=1)
        raise InvalidInput(
            f"unknown data source {req.data_source!r}",
            location=Location(field="data-source"),
            hint=f'did you mean "{close[0]}"?' if close else f"use one of {', '.join(DATA_SOURCES)}",
        )
    try:
        hours = float(req.training_hours)
    except ValueError:
        hours = -1.0
    if not math.isfinite(hours) or hours <= 0:
        raise InvalidInput(
            f"training hours {req.training_hours!r} is not a positive number",
            location=Location(field="training-hours"),
            hint="e.g. 24, 168 (a week) or 720 (30 days)",
        )


def check_notebook(path: Path, *, field: str) -> None:
    """The notebook exists and is a Jupyter notebook (JSON with nbformat and cells). The error names the file
    and what is wrong with it, never its content (it may be any file, e.g. one holding secrets)."""
    import json

    fix = "give the path of a Jupyter notebook (.ipynb) that trains the model"
    if not path.exists():
        raise InvalidInput(f"notebook {path} does not exist", location=Location(field=field), hint=fix)
    if not path.is_file():
        raise InvalidInput(f"notebook {path} is not a file", location=Location(field=field), hint=fix)
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        kind = "cannot be read" if isinstance(err, OSError) else "is not JSON, so not a Jupyter notebook"
        raise InvalidInput(f"notebook {path} {kind}", location=Location(field=field), hint=fix) from None
    if not (isinstance(doc, dict) and isinstance(doc.get("cells"), list) and "nbformat" in doc):
        raise InvalidInput(
            f"{path} is JSON but not a Jupyter notebook (no nbformat and cells)",
            location=Location(field=field),
            hint=fix,
        )


def notebook_source(notebook_path: str | None, cwd: Path) -> tuple[str | None, Path | None]:
    """Where a local custom notebook lives, as the pipeline's `source` workspace and a path inside it.

    On a cluster the notebook comes from a git checkout in the `source` workspace; locally that checkout is
    the working directory when the notebook is inside it, else the notebook's own directory."""
    if not notebook_path:
        return None, None
    path = (cwd / notebook_path).resolve()
    if path.is_relative_to(cwd.resolve()):
        return str(path.relative_to(cwd.resolve())), cwd.resolve()
    return path.name, path.parent


def pipelinerun_for(
    req: TrainingRequest, pipeline: Pipeline, *, registry_claim: str = "model-storage"
) -> PipelineRun:
    """The PipelineRun for a request; `model-storage` is bound by the caller (a host dir or a PVC)."""
    check_request(req)
    params = {
        "model-name": req.model,
        "notebook-path": req.notebook_path or "",
        "data-source": req.data_source,
        "training-hours": req.training_hours,
        "inference-service-name": req.inference_service or "",
        "health-check-enabled": "true" if req.health_check else "false",
        "deploy-target": req.deploy_target,
        "serving-url": req.serving_url,
        "prometheus-url": req.prometheus_url,
        "pushgateway-url": req.pushgateway_url,
        "verify-timeout": f"{req.verify_timeout_s:g}",
    }
    declared = {p.name for p in pipeline.spec.params}
    labels = {
        "retrain.dev/model": req.model,
        "retrain.dev/trigger": req.trigger,
        "tekton.dev/pipeline": pipeline.metadata.name or req.pipeline,
        **req.labels,
    }
    spec: dict[str, object] = {
        "pipelineRef": {"name": pipeline.metadata.name},
        "params": [{"name": k, "value": v} for k, v in params.items() if k in declared],
        "workspaces": [{"name": "model-storage", "persistentVolumeClaim": {"claimName": registry_claim}}],
    }
    timeout = pipeline.metadata.annotations.get(TIMEOUT_ANNOTATION)
    if timeout:
        spec["timeouts"] = {"pipeline": timeout}
    return PipelineRun.model_validate(
        {
            "metadata": {
                "generateName": f"{req.model}-{req.trigger}-",
                "labels": labels,
                "annotations": dict(req.annotations),
            },
            "spec": spec,
        }
    )


def local_pipelinerun(
    req: TrainingRequest, pipeline: Pipeline, registry: Path, *, cwd: Path
) -> tuple[PipelineRun, dict[str, Path]]:
    """The PipelineRun for the local engine and its host-directory bindings (`-w NAME=DIR`): the registry
    as `model-storage` and, for a custom notebook, its checkout as `source`."""
    relative, source = notebook_source(req.notebook_path, cwd)
    run = pipelinerun_for(replace(req, notebook_path=relative), pipeline)
    host_dirs = {"model-storage": registry}
    if source is not None:
        host_dirs["source"] = source
    return run, host_dirs
