"""The site's part of a NotebookValidationJob's pod: `retrain train --job-pod-config JSON`.

`retrain cluster render` (training.executor notebook-validation-job) writes this JSON into the train Tasks'
environment (`RETRAIN_NOTEBOOK_POD_CONFIG`): the CPU or GPU resources, the GPU node selector and tolerations,
and the Prometheus URL, token and CA the notebook needs. Its keys are the CRD's `podConfig` field names, so
what is written here is what the operator reads; anything else is refused rather than silently dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from retrain.errors import InvalidInput, Location

__all__ = ["POD_CONFIG_KEYS", "PodConfig", "parse_pod_config"]

OPTION = "--job-pod-config"
_LISTS = ("env", "volumes", "volumeMounts", "tolerations")
_MAPS = ("resources", "nodeSelector")
POD_CONFIG_KEYS = (*_LISTS, *_MAPS, "serviceAccountName")


@dataclass(frozen=True)
class PodConfig:
    resources: dict[str, dict[str, str]] | None = None
    node_selector: dict[str, str] | None = None
    tolerations: list[dict[str, Any]] | None = None
    service_account: str | None = None
    env: list[dict[str, Any]] = field(default_factory=list)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    volume_mounts: list[dict[str, Any]] = field(default_factory=list)


def _bad(message: str) -> InvalidInput:
    return InvalidInput(
        f"{OPTION}: {message}",
        location=Location(field=OPTION),
        hint='a JSON object with podConfig fields, e.g. {"resources": {"limits": {"nvidia.com/gpu": "1"}}, '
        '"nodeSelector": {...}, "tolerations": [...]}; `retrain cluster render` writes it',
    )


def parse_pod_config(text: str) -> PodConfig:
    """Parse and check the JSON; empty text is no additions."""
    if not text.strip():
        return PodConfig()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise _bad(f"not JSON ({err.msg} at line {err.lineno} column {err.colno})") from None
    if not isinstance(data, dict):
        raise _bad(f"must be a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - set(POD_CONFIG_KEYS))
    if unknown:
        raise _bad(f"unknown field(s) {', '.join(unknown)} (known: {', '.join(POD_CONFIG_KEYS)})")
    for key in _LISTS:
        items = data.get(key, [])
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise _bad(f"{key} must be a list of objects")
        if key != "tolerations" and not all(isinstance(i.get("name"), str) for i in items):
            raise _bad(f"every item of {key} needs a name")
    for key in _MAPS:
        if not isinstance(data.get(key, {}), dict):
            raise _bad(f"{key} must be an object")
    resources = data.get("resources")
    if resources is not None:
        for section, quantities in resources.items():
            if section not in ("limits", "requests") or not isinstance(quantities, dict):
                raise _bad(f"resources.{section}: only limits and requests, each an object of quantities")
            resources[section] = {str(k): str(v) for k, v in quantities.items()}
    account = data.get("serviceAccountName")
    if account is not None and not isinstance(account, str):
        raise _bad("serviceAccountName must be a string")
    return PodConfig(
        resources=resources or None,
        node_selector={str(k): str(v) for k, v in data.get("nodeSelector", {}).items()} or None,
        tolerations=data.get("tolerations") or None,
        service_account=account or None,
        env=list(data.get("env", [])),
        volumes=list(data.get("volumes", [])),
        volume_mounts=list(data.get("volumeMounts", [])),
    )
