"""The built-in catalog: Tekton v1 Tasks (one per step kind, tasks/), the Pipelines that reference them by
taskRef (pipelines/), and the built-in training notebooks, shipped as package data."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from retrain.engine.prepare import Catalog

PIPELINES = ("model-training-pipeline", "model-training-pipeline-gpu", "model-health-check-pipeline")


TASKS = (
    "run-notebook-validation",
    "run-notebook-validation-gpu",
    "validate-model-health",
    "restart-inference-service",
    "test-inference-endpoint",
    "rollback-model",
    "pipeline-summary",
    "notify-run",
    "copy-model-to-gpu-storage",
    "copy-gpu-model-to-shared",
)


def _yaml_files(folder: str) -> list[Path]:
    root = resources.files("retrain.catalog") / folder
    return sorted(Path(str(p)) for p in root.iterdir() if p.name.endswith(".yaml"))


def pipeline_files() -> list[Path]:
    """The YAML files of the built-in pipelines (real paths: the package is installed as files)."""
    return _yaml_files("pipelines")


def task_files() -> list[Path]:
    """The YAML files of the built-in Tasks the pipelines reference by taskRef."""
    return _yaml_files("tasks")


def catalog_files() -> list[Path]:
    """Every catalog file: the Tasks, then the Pipelines (a Pipeline runs only with its Tasks)."""
    return [*task_files(), *pipeline_files()]


def notebook_path(model: str) -> Path:
    return Path(str(resources.files("retrain.catalog") / "notebooks" / f"{model}.ipynb"))


def builtin_catalog() -> Catalog:
    """An engine Catalog holding the built-in Tasks and Pipelines (files given with -f take precedence)."""
    from retrain.engine.prepare import Catalog
    from retrain.tekton.loader import load_files
    from retrain.tekton.model import Pipeline, Task

    catalog = Catalog()
    for doc in load_files(catalog_files()).documents:
        if isinstance(doc.obj, Task | Pipeline):
            catalog.add(doc.obj)
    return catalog
