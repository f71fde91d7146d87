"""retrain.serving: the inference server (KServe V1 and Open Inference Protocol V2) with hot reload.

Public surface:
- `create_app(registry, ...)` -> `ServingApp`, a plain ASGI app (composable: `fallback=` for other routes);
- `serve(registry, host=, port=)` runs it with uvicorn in the foreground (`retrain serve`);
- `BackgroundServer(app)` runs any ASGI app in a thread on an ephemeral 127.0.0.1 port;
- `ModelRepository.reload(model)` (or `POST /v2/repository/models/<model>/load`) swaps in a new version now;
- `infra_validate(registry_root, model, version, instances)` -> `InfraReport` for the gate;
- `load_version(registry, model, version)` -> `LoadedModel`, the loader the server uses.

Nothing heavy is imported here: numpy, uvicorn and scikit-learn load with the submodules that need them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retrain.serving.app import ServingApp
    from retrain.serving.infra import InfraReport, Query, infra_validate
    from retrain.serving.loader import LoadedModel, load_version
    from retrain.serving.repository import ModelRepository, ModelState
    from retrain.serving.runner import BackgroundServer, create_app, serve

__all__ = [
    "BackgroundServer",
    "InfraReport",
    "LoadedModel",
    "ModelRepository",
    "ModelState",
    "Query",
    "ServingApp",
    "create_app",
    "infra_validate",
    "load_version",
    "serve",
]

_HOMES = {
    "ServingApp": "app",
    "InfraReport": "infra",
    "Query": "infra",
    "infra_validate": "infra",
    "LoadedModel": "loader",
    "load_version": "loader",
    "ModelRepository": "repository",
    "ModelState": "repository",
    "BackgroundServer": "runner",
    "create_app": "runner",
    "serve": "runner",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'retrain.serving' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"retrain.serving.{home}"), name)
