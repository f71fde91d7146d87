"""The Kubernetes objects a run was submitted with, kept beside it so that `runs rerun` has them too.

`retrain run -f` hands the engine ConfigMaps, Secrets and ServiceAccounts; a re-run has no -f, so
`Engine.submit` writes them to `<run dir>/objects.json` (0600: Secrets are in it, as they already are in the
run's materialised volumes) and a re-run's catalog reads them back.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from types import MappingProxyType
from typing import Any

from retrain.tekton.kube import ConfigMap, KubeObject, KubeObjects, Secret, ServiceAccount

__all__ = ["OBJECTS_FILE", "load_objects", "save_objects"]

OBJECTS_FILE = "objects.json"


def _doc(obj: KubeObject) -> dict[str, Any]:
    if isinstance(obj, ServiceAccount):
        return {"kind": obj.kind, "name": obj.name, "secrets": list(obj.secrets)}
    data = {k: base64.b64encode(v).decode() for k, v in obj.data.items()}
    doc: dict[str, Any] = {"kind": obj.kind, "name": obj.name, "data": data}
    doc["annotations"] = dict(obj.annotations)
    if isinstance(obj, Secret):
        doc["type"] = obj.type
    return doc


def _obj(doc: dict[str, Any]) -> KubeObject:
    if doc["kind"] == "ServiceAccount":
        return ServiceAccount(doc["name"], tuple(doc.get("secrets", ())))
    data = MappingProxyType({k: base64.b64decode(v) for k, v in doc["data"].items()})
    annotations = MappingProxyType(dict(doc.get("annotations", {})))
    if doc["kind"] == "Secret":
        return Secret(doc["name"], data, doc.get("type", "Opaque"), annotations)
    return ConfigMap(doc["name"], data, annotations)


def save_objects(run_dir: Path, objects: KubeObjects) -> None:
    """Keep the run's objects (nothing is written when there are none)."""
    if not objects:
        return
    path = run_dir / OBJECTS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump([_doc(o) for o in objects], out)


def load_objects(run_dir: Path) -> KubeObjects | None:
    """The objects a recorded run was submitted with; None when it kept none."""
    path = run_dir / OBJECTS_FILE
    if not path.is_file():
        return None
    return KubeObjects([_obj(doc) for doc in json.loads(path.read_text())])
