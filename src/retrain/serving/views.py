"""The JSON documents the server answers with about models (not predictions), and its model gauges."""

from __future__ import annotations

from typing import Any

from retrain.serving.loader import PLATFORM, LoadedModel
from retrain.serving.repository import ModelRepository, ModelState


def metadata(model: LoadedModel) -> dict[str, Any]:
    """Open Inference Protocol model metadata, with the feature contract's names as parameters."""
    return {
        "name": model.name,
        "versions": [model.version_text],
        "platform": PLATFORM,
        "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, model.width]}],
        "outputs": [{"name": "output-0", "datatype": model.output.datatype, "shape": model.output.shape(-1)}],
        "parameters": {
            "feature_names": list(model.feature_names),
            "target_names": list(model.target_names),
            "engine": model.engine,
            "sha256": model.info.sha256,
        },
    }


def index(state: ModelState) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": state.name,
        "version": state.model.version_text if state.model else None,
        "state": state.detail()["state"],
    }
    if state.error:
        entry["reason"] = state.error
    return entry


def gauges(repository: ModelRepository) -> list[str]:
    """Prometheus lines for what the repository holds: the version answering, loads and refused loads."""
    lines = [
        "# HELP retrain_serving_model_version the version answering for each model (0: none)",
        "# TYPE retrain_serving_model_version gauge",
    ]
    for name, state in sorted(repository.states().items()):
        version = state.model.version if state.model else 0
        lines.append(f'retrain_serving_model_version{{model_name="{name}"}} {version}')
    counters = repository.counters
    lines += [
        "# HELP retrain_serving_loads_total versions loaded",
        "# TYPE retrain_serving_loads_total counter",
    ]
    lines += [
        f'retrain_serving_loads_total{{model_name="{n}"}} {c}' for n, c in sorted(counters.loads.items())
    ]
    lines += [
        "# HELP retrain_serving_load_failures_total versions refused (digest, unpickle, probe)",
        "# TYPE retrain_serving_load_failures_total counter",
    ]
    lines += [
        f'retrain_serving_load_failures_total{{model_name="{n}"}} {c}'
        for n, c in sorted(counters.failures.items())
    ]
    return lines
