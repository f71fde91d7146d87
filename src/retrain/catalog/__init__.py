"""The built-in catalog: Tekton v1 Pipelines and the built-in training notebooks, shipped as package data."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from retrain.engine.prepare import Catalog

PIPELINES = ("model-training-pipeline", "model-training-pipeline-gpu", "model-health-check-pipeline")


def pipeline_files() -> list[Path]:
    """The YAML files of the built-in pipelines (real paths: the package is installed as files)."""
    root = resources.files("retrain.catalog") / "pipelines"
    return sorted(Path(str(p)) for p in root.iterdir() if p.name.endswith(".yaml"))


def notebook_path(model: str) -> Path:
    return Path(str(resources.files("retrain.catalog") / "notebooks" / f"{model}.ipynb"))


def builtin_catalog() -> Catalog:
    """An engine Catalog holding the built-in Tasks and Pipelines (files given with -f take precedence)."""
    from retrain.engine.prepare import Catalog
    from retrain.tekton.loader import load_files
    from retrain.tekton.model import Pipeline, Task

    catalog = Catalog()
    for doc in load_files(pipeline_files()).documents:
        if isinstance(doc.obj, Task | Pipeline):
            catalog.add(doc.obj)
    return catalog
