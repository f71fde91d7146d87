"""Kubernetes volume sources written out as files: what the kubelet would show a pod, in the run's directory.

A configMap, secret, projected or downwardAPI volume becomes a directory holding one file per key (or per
`items` entry, at its `path`), with `defaultMode`/`mode` applied; an emptyDir is an empty directory. The
directory is created 0700 inside the run's own directory (a Secret's bytes stay private to the invoking user),
every file is written atomically, and no content is ever logged. Mounted, these volumes are read-only, as the
kubelet mounts them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from retrain.errors import InvalidInput, Location
from retrain.tekton.kube import KubeObjects

__all__ = ["KINDS_READ_ONLY", "SUPPORTED", "materialise_volume", "volume_kind"]

KINDS_READ_ONLY = frozenset({"configMap", "secret", "projected", "downwardAPI"})
SUPPORTED = ("emptyDir", "configMap", "secret", "projected", "downwardAPI", "persistentVolumeClaim")
_DEFAULT_MODE = 0o644  # ConfigMapVolumeSourceDefaultMode == SecretVolumeSourceDefaultMode == 0644
_REFUSED = {
    "hostPath": "a node's directory: steps here run on this machine and see only their run's directories",
    "csi": "a CSI driver needs a Kubernetes cluster",
    "ephemeral": "a generic ephemeral volume needs a Kubernetes cluster's storage provisioner",
    "nfs": "an NFS mount needs privileges and the network",
    "image": "an image volume needs a container runtime to pull the image",
}


def volume_kind(source: Mapping[str, Any]) -> str | None:
    """The one volume-source field a volume (or workspace binding) sets, e.g. "configMap"."""
    for key in source:
        if key not in ("name", "subPath") and source[key] is not None:
            return key
    return None


def _refuse(kind: str, field_path: str) -> InvalidInput:
    why = _REFUSED.get(kind, "the local engine only materialises " + ", ".join(SUPPORTED))
    return InvalidInput(
        f"the local engine does not support a {kind} volume: {why}",
        location=Location(field=field_path),
        hint="use an emptyDir, configMap, secret or projected volume, or a workspace",
    )


def _mode(value: Any, field_path: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0o777:
        raise InvalidInput(
            f"invalid file mode {value!r}: it must be a number from 0 to 0777 (511)",
            location=Location(field=field_path),
            hint="write it in octal with a leading 0 in YAML (0644) or in decimal in JSON (420)",
        )
    return value


def _relative(path: Any, field_path: str) -> PurePosixPath:
    rel = PurePosixPath(path) if isinstance(path, str) else None
    if rel is None or not path or rel.is_absolute() or ".." in rel.parts:
        raise InvalidInput(
            f"invalid item path {path!r}: it must be relative and must not contain '..'",
            location=Location(field=field_path),
        )
    return rel


def _write(dest: Path, rel: PurePosixPath, content: bytes, mode: int) -> None:
    target = dest / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        Path(tmp).chmod(mode)
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _keyed(  # noqa: PLR0917 - private, called twice with the same shape
    kind: str,
    source: Mapping[str, Any],
    objects: KubeObjects,
    dest: Path,
    field_path: str,
    default_mode: int,
) -> None:
    """A configMap or secret source (a volume's, or one of a projected volume's sources)."""
    optional = source.get("optional") is True
    name = source.get("name") if kind == "configMap" else source.get("secretName", source.get("name"))
    name_field = "name" if kind == "configMap" or "secretName" not in source else "secretName"
    if not isinstance(name, str) or not name:
        raise InvalidInput(
            f"a {kind} source needs {name_field}", location=Location(field=f"{field_path}.{name_field}")
        )
    where = f"{field_path}.{name_field}"
    obj = (
        objects.config_map(name, field_path=where, optional=optional)
        if kind == "configMap"
        else objects.secret(name, field_path=where, optional=optional)
    )
    if obj is None:
        return  # optional and absent: an empty volume, as the kubelet makes it
    mode = _mode(source.get("defaultMode"), f"{field_path}.defaultMode")
    mode = default_mode if mode is None else mode
    items = source.get("items")
    if not items:
        for key, content in obj.data.items():
            _write(dest, PurePosixPath(key), content, mode)
        return
    for i, item in enumerate(items):
        item_field = f"{field_path}.items[{i}]"
        wanted = item.get("key") if isinstance(item, dict) else None
        if not isinstance(wanted, str) or wanted not in obj.data:
            if optional:
                continue
            raise InvalidInput(
                f'{kind} "{name}" has no key {wanted!r} (keys: {", ".join(sorted(obj.data)) or "none"})',
                location=Location(field=f"{item_field}.key"),
                hint="name an existing key, or mark the source optional: true",
            )
        own = _mode(item.get("mode"), f"{item_field}.mode")
        rel = _relative(item.get("path"), f"{item_field}.path")
        _write(dest, rel, obj.data[wanted], mode if own is None else own)


def _downward(
    source: Mapping[str, Any], fields: Mapping[str, str], dest: Path, field_path: str, default_mode: int
) -> None:
    for i, item in enumerate(source.get("items") or []):
        item_field = f"{field_path}.items[{i}]"
        ref = item.get("fieldRef") if isinstance(item, dict) else None
        path = ref.get("fieldPath") if isinstance(ref, dict) else None
        if not isinstance(path, str) or path not in fields:
            raise InvalidInput(
                f"the local engine does not support the downward API field {path!r}: a local step has no "
                f"pod object; only {', '.join(sorted(fields))} are known",
                location=Location(field=f"{item_field}.fieldRef"),
            )
        own = _mode(item.get("mode"), f"{item_field}.mode")
        _write(
            dest,
            _relative(item.get("path"), f"{item_field}.path"),
            fields[path].encode(),
            default_mode if own is None else own,
        )


def materialise_volume(
    source: Mapping[str, Any],
    objects: KubeObjects,
    dest: Path,
    *,
    field_path: str,
    pod_fields: Mapping[str, str],
) -> bool:
    """Write the volume (or workspace binding) `source` into the new directory `dest`; True when read-only.

    `pod_fields` are the downward API's known fields (metadata.name, metadata.namespace)."""
    kind = volume_kind(source)
    dest.mkdir(parents=True, exist_ok=True)
    body = source.get(kind) if kind else None
    if kind in (None, "emptyDir"):
        return False
    dest.chmod(0o700)  # a Secret's bytes: readable by the invoking user only
    if kind not in KINDS_READ_ONLY:
        raise _refuse(kind, f"{field_path}.{kind}")
    if not isinstance(body, dict):
        raise InvalidInput(f"{kind} must be a mapping", location=Location(field=f"{field_path}.{kind}"))
    at = f"{field_path}.{kind}"
    if kind in ("configMap", "secret"):
        _keyed(kind, body, objects, dest, at, _DEFAULT_MODE)
    elif kind == "downwardAPI":
        mode = _mode(body.get("defaultMode"), f"{at}.defaultMode")
        _downward(body, pod_fields, dest, at, _DEFAULT_MODE if mode is None else mode)
    else:
        mode = _mode(body.get("defaultMode"), f"{at}.defaultMode")
        default = _DEFAULT_MODE if mode is None else mode
        for i, projection in enumerate(body.get("sources") or []):
            sub = volume_kind(projection) if isinstance(projection, dict) else None
            inner = projection.get(sub) if sub and isinstance(projection, dict) else None
            where = f"{at}.sources[{i}].{sub}"
            if sub in ("configMap", "secret") and isinstance(inner, dict):
                _keyed(
                    sub, {k: v for k, v in inner.items() if k != "defaultMode"}, objects, dest, where, default
                )
            elif sub == "downwardAPI" and isinstance(inner, dict):
                _downward(inner, pod_fields, dest, where, default)
            else:
                why = (
                    "a token for the ServiceAccount needs a Kubernetes API server to issue it"
                    if sub == "serviceAccountToken"
                    else "it needs a Kubernetes cluster"
                )
                raise InvalidInput(
                    f"the local engine does not support a projected {sub} source: {why}",
                    location=Location(field=where),
                    hint="project only configMap, secret and downwardAPI sources",
                )
    return True
