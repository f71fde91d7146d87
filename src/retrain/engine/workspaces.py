"""Workspaces as directories owned by the run.

Locally every kind of volume (emptyDir, volumeClaimTemplate, persistentVolumeClaim, configMap, secret,
projected) becomes a directory inside the run's own directory; two bindings to the same claim share one
directory, as they would share one volume on a cluster. A configMap, secret or projected binding is written
out from the Kubernetes objects loaded with the run (projection.py) and is read-only, as its mount is. A
`-w NAME=DIR` binding given on the command line maps a workspace to an existing host directory instead (that
is how the built-in pipelines reach the model registry).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from retrain.engine import reasons
from retrain.engine.projection import materialise_volume
from retrain.engine.reasons import RunRejected
from retrain.tekton.kube import KubeObjects
from retrain.tekton.model import WorkspaceBinding, WorkspaceDeclaration

log = logging.getLogger("retrain.engine")

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class BoundWorkspace:
    """A workspace as a task sees it: where it lives on the host, and how it was bound."""

    name: str
    host: Path | None  # None: an optional workspace that was not bound
    read_only: bool = False
    claim: str = ""
    volume: str = ""

    @property
    def bound(self) -> bool:
        return self.host is not None

    def sub(self, sub_path: str | None) -> BoundWorkspace:
        if not sub_path or self.host is None:
            return self
        return BoundWorkspace(
            self.name, _inside(self.host, sub_path), self.read_only, self.claim, self.volume
        )


def _inside(base: Path, sub_path: str) -> Path:
    target = (base / sub_path).resolve()
    if not target.is_relative_to(base.resolve()):
        raise RunRejected(
            reasons.PR_INVALID_WORKSPACE_BINDINGS,
            f'subPath "{sub_path}" leaves the workspace directory',
            hint="use a relative path without '..'",
        )
    target.mkdir(parents=True, exist_ok=True)
    return target


def bind_run_workspaces(
    bindings: Sequence[WorkspaceBinding],
    run_dir: Path,
    *,
    host_dirs: Mapping[str, Path] | None = None,
    objects: KubeObjects | None = None,
) -> dict[str, BoundWorkspace]:
    """Turn a run's workspace bindings into directories. `host_dirs` (from `-w NAME=DIR`) win.

    `objects` are the ConfigMaps and Secrets that configMap/secret/projected bindings are written from."""
    bound: dict[str, BoundWorkspace] = {}
    volumes = run_dir / "volumes"
    for index, binding in enumerate(bindings):
        claim, read_only = "", False
        if binding.persistent_volume_claim is not None:
            claim = binding.persistent_volume_claim.claim_name
            host = volumes / f"pvc-{_SAFE.sub('_', claim)}"
        elif binding.volume_claim_template is not None:
            host = volumes / f"pvc-{_SAFE.sub('_', binding.name)}"
            claim = f"pvc-{binding.name}"
        else:
            host = volumes / f"dir-{_SAFE.sub('_', binding.name)}"
            source = {
                wire: getattr(binding, attr)
                for wire, attr in (
                    ("configMap", "config_map"),
                    ("secret", "secret"),
                    ("projected", "projected"),
                )
                if getattr(binding, attr) is not None
            }
            if source:
                read_only = materialise_volume(
                    source,
                    objects or KubeObjects(),
                    host,
                    field_path=f"spec.workspaces[{index}]",
                    pod_fields={"metadata.namespace": "default"},
                )
        host.mkdir(parents=True, exist_ok=True)
        bound[binding.name] = BoundWorkspace(
            binding.name, host, read_only=read_only, claim=claim, volume=host.name
        ).sub(binding.sub_path)
    for name, given in (host_dirs or {}).items():
        directory = given.expanduser().resolve()
        directory.mkdir(parents=True, exist_ok=True)
        bound[name] = BoundWorkspace(name, directory, volume=f"host-{_SAFE.sub('_', name)}")
    return bound


def check_declared(
    declared: Sequence[tuple[str, bool]], bound: Mapping[str, BoundWorkspace], *, owner: str
) -> None:
    """Every non-optional declared workspace must be bound (InvalidWorkspaceBindings)."""
    missing = [name for name, optional in declared if not optional and name not in bound]
    if missing:
        raise RunRejected(
            reasons.PR_INVALID_WORKSPACE_BINDINGS,
            f"{owner} declares workspaces that are not bound: {', '.join(missing)}",
            hint="bind them in spec.workspaces or with -w NAME=DIR",
        )


def task_workspaces(
    declarations: Sequence[WorkspaceDeclaration], available: Mapping[str, BoundWorkspace], *, owner: str
) -> dict[str, BoundWorkspace]:
    """The workspaces a task sees, by its own declared names; read-only as the task declares."""
    result: dict[str, BoundWorkspace] = {}
    for decl in declarations:
        ws = available.get(decl.name)
        if ws is None:
            if not decl.optional:
                raise RunRejected(
                    reasons.PR_INVALID_WORKSPACE_BINDINGS,
                    f'{owner} declares workspace "{decl.name}" but nothing binds it',
                    hint="bind it in the run or in the pipeline task's workspaces",
                )
            result[decl.name] = BoundWorkspace(decl.name, None)
            continue
        result[decl.name] = BoundWorkspace(
            decl.name, ws.host, read_only=decl.read_only or ws.read_only, claim=ws.claim, volume=ws.volume
        )
    return result
