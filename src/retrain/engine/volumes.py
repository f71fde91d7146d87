"""Pod volumes and the volumeMounts of steps and sidecars, as sandbox mounts.

A Task's `spec.volumes` (and a podTemplate's `volumes`) are one pod's volumes: each is materialised once per
TaskRun try under `<attempt>/volumes/<name>` (a retry is a fresh pod), except a persistentVolumeClaim, which
is the run's claim directory that workspaces bound to the same claim share. A container's `volumeMounts` then
become `Mount`s: read-only when the mount says so or the volume is a configMap/secret/projected/downwardAPI
one (the kubelet mounts those read-only), at `subPath` inside the volume when given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from retrain.engine.projection import materialise_volume, volume_kind
from retrain.engine.sandbox import Mount
from retrain.errors import InvalidInput, Location
from retrain.tekton.kube import KubeObjects

__all__ = ["PodVolume", "claim_dir", "container_mounts", "pod_volumes"]

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class PodVolume:
    """One materialised pod volume: where its files are on the host, and whether mounts must be read-only."""

    name: str
    host: Path
    read_only: bool = False


def claim_dir(run_dir: Path, claim: str) -> Path:
    """The directory of a PersistentVolumeClaim within a run (the same one a workspace binding uses)."""
    return run_dir / "volumes" / f"pvc-{_SAFE.sub('_', claim)}"


def pod_volumes(
    volumes: Sequence[Mapping[str, Any]],
    objects: KubeObjects,
    root: Path,
    *,
    run_dir: Path,
    field_prefix: str,
    pod_fields: Mapping[str, str],
) -> dict[str, PodVolume]:
    """Materialise a pod's volumes under `root` (one try's directory). InvalidInput names the bad field."""
    found: dict[str, PodVolume] = {}
    for i, volume in enumerate(volumes):
        at = f"{field_prefix}[{i}]"
        name = volume.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidInput("a volume needs a name", location=Location(field=f"{at}.name"))
        if name in found:
            raise InvalidInput(f'duplicate volume name "{name}"', location=Location(field=f"{at}.name"))
        if volume_kind(volume) == "persistentVolumeClaim":
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if not isinstance(claim, str) or not claim:
                raise InvalidInput(
                    "persistentVolumeClaim needs claimName",
                    location=Location(field=f"{at}.persistentVolumeClaim.claimName"),
                )
            host = claim_dir(run_dir, claim)
            host.mkdir(parents=True, exist_ok=True)
            read_only = (volume.get("persistentVolumeClaim") or {}).get("readOnly") is True
            found[name] = PodVolume(name, host, read_only)
            continue
        host = root / "volumes" / _SAFE.sub("_", name)
        read_only = materialise_volume(volume, objects, host, field_path=at, pod_fields=pod_fields)
        found[name] = PodVolume(name, host, read_only)
    return found


# The host directories the bwrap sandbox shows read-only (bwrap_sandbox._system_binds): a mount point that
# does not exist in them cannot be created, where a container image would simply have made it.
_HOST_READ_ONLY = ("/usr", "/etc", "/opt", "/bin", "/sbin", "/lib", "/lib64", "/proc", "/dev")


def _target(mount: Mapping[str, Any], at: str) -> str:
    path = mount.get("mountPath")
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidInput(
            f"mountPath {path!r} must be an absolute path", location=Location(field=f"{at}.mountPath")
        )
    normal = str(PurePosixPath(path))
    # Tekton's validation: /tekton/ belongs to Tekton itself (results, scripts, steps), except /tekton/home.
    if normal.startswith("/tekton/") and not (normal + "/").startswith("/tekton/home/"):
        raise InvalidInput(
            f'volumeMount cannot be mounted under /tekton/ (volumeMount "{mount.get("name")}" '
            f'mounted at "{path}")',
            location=Location(field=f"{at}.mountPath"),
        )
    holder = next((d for d in _HOST_READ_ONLY if normal == d or normal.startswith(d + "/")), None)
    if holder is not None and not Path(normal).exists():
        raise InvalidInput(
            f"mountPath {path!r} is inside {holder}, which steps see read-only from this machine, and it "
            "does not exist here, so the mount point cannot be made (an image would have had it)",
            location=Location(field=f"{at}.mountPath"),
            hint="mount the volume elsewhere, e.g. under /var, /srv or /mnt",
        )
    return normal


def container_mounts(
    volume_mounts: Sequence[Mapping[str, Any]] | None,
    volumes: Mapping[str, PodVolume],
    *,
    field_prefix: str = "volumeMounts",
) -> list[Mount]:
    """The sandbox mounts for one container's `volumeMounts` over the pod's materialised `volumes`."""
    mounts: list[Mount] = []
    for i, mount in enumerate(volume_mounts or []):
        at = f"{field_prefix}[{i}]"
        name = mount.get("name")
        volume = volumes.get(name) if isinstance(name, str) else None
        if volume is None:
            known = ", ".join(sorted(volumes)) or "none"
            raise InvalidInput(
                f'volumeMount "{name}" names no volume of the pod (volumes: {known})',
                location=Location(field=f"{at}.name"),
                hint="declare it in the Task's spec.volumes (or the podTemplate's volumes)",
            )
        if mount.get("subPathExpr"):
            raise InvalidInput(
                "the local engine does not support subPathExpr: it expands the container's environment "
                "at mount time, which a local step does not have yet",
                location=Location(field=f"{at}.subPathExpr"),
                hint="use subPath with $(params.*) instead",
            )
        host = volume.host
        sub = mount.get("subPath")
        if isinstance(sub, str) and sub:
            rel = PurePosixPath(sub)
            if rel.is_absolute() or ".." in rel.parts:
                raise InvalidInput(
                    f"subPath {sub!r} must be a relative path without '..'",
                    location=Location(field=f"{at}.subPath"),
                )
            host = volume.host / rel
            if not host.exists():
                if volume.read_only:
                    raise InvalidInput(
                        f'subPath {sub!r} does not exist in volume "{name}"',
                        location=Location(field=f"{at}.subPath"),
                    )
                host.mkdir(parents=True)  # the kubelet creates a missing subPath in a writable volume
        read_only = volume.read_only or mount.get("readOnly") is True
        mounts.append(Mount(host, _target(mount, at), read_only=read_only))
    return mounts
