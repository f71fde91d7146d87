"""The Kubernetes objects a Tekton file may carry beside its runs: ConfigMap, Secret, ServiceAccount.

Tekton's examples create the ConfigMaps and Secrets their workspaces, pod volumes and env refer to in the same
file. On a cluster the API server validates them; locally this module does: typed, frozen values checked as
the API server checks them (key names, base64 in `data`, the keys a typed Secret requires), with file:line.
`KubeObjects` is the lookup by kind and name that the engine reads them back from.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from retrain.errors import InvalidInput, Location
from retrain.tekton.problems import FieldPath

__all__ = [
    "KUBE_KINDS",
    "ConfigMap",
    "KubeObject",
    "KubeObjects",
    "Secret",
    "ServiceAccount",
    "parse_kube_object",
]

KUBE_KINDS = ("ConfigMap", "Secret", "ServiceAccount")
KubeKind = Literal["ConfigMap", "Secret", "ServiceAccount"]
Locate = Callable[[FieldPath], Location]  # field path -> Location with file:line

_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
# What the API server requires of each typed Secret (kubernetes pkg/apis/core/validation ValidateSecret).
_REQUIRED_KEYS: Mapping[str, tuple[str, ...]] = {
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


@dataclass(frozen=True)
class ConfigMap:
    name: str
    data: Mapping[str, bytes]  # data (UTF-8) and binaryData (decoded) together, as a volume shows them
    annotations: Mapping[str, str] = field(default_factory=dict)
    kind: KubeKind = "ConfigMap"


@dataclass(frozen=True)
class Secret:
    name: str
    data: Mapping[str, bytes]  # decoded `data`, overlaid by `stringData` (as the API server merges them)
    type: str = "Opaque"
    annotations: Mapping[str, str] = field(default_factory=dict)
    kind: KubeKind = "Secret"

    def __repr__(self) -> str:  # a Secret's values never reach a log or a traceback
        return f"Secret(name={self.name!r}, type={self.type!r}, keys={sorted(self.data)!r})"


@dataclass(frozen=True)
class ServiceAccount:
    name: str
    secrets: tuple[str, ...] = ()
    image_pull_secrets: tuple[str, ...] = ()
    kind: KubeKind = "ServiceAccount"


KubeObject = ConfigMap | Secret | ServiceAccount


class KubeObjects:
    """The objects given with -f, by kind and name. A missing one is an error that says how to pass it."""

    def __init__(self, objects: tuple[KubeObject, ...] | list[KubeObject] = ()) -> None:
        self._by_key: dict[tuple[str, str], KubeObject] = {}
        for obj in objects:
            self.add(obj)

    def add(self, obj: KubeObject) -> None:
        self._by_key[(obj.kind, obj.name)] = obj

    def __len__(self) -> int:
        return len(self._by_key)

    def __bool__(self) -> bool:
        return bool(self._by_key)

    def __iter__(self) -> Iterator[KubeObject]:
        return iter(list(self._by_key.values()))

    def config_map(self, name: str, *, field_path: str, optional: bool = False) -> ConfigMap | None:
        found = self._find("ConfigMap", name, field_path, optional)
        return found if isinstance(found, ConfigMap) else None

    def secret(self, name: str, *, field_path: str, optional: bool = False) -> Secret | None:
        found = self._find("Secret", name, field_path, optional)
        return found if isinstance(found, Secret) else None

    def service_account(self, name: str) -> ServiceAccount | None:
        found = self._by_key.get(("ServiceAccount", name))
        return found if isinstance(found, ServiceAccount) else None

    def _find(self, kind: str, name: str, field_path: str, optional: bool) -> KubeObject | None:
        found = self._by_key.get((kind, name))
        if found is None and not optional:
            known = sorted(n for k, n in self._by_key if k == kind)
            raise InvalidInput(
                f'{kind} "{name}" is not among the loaded objects; pass it with -f '
                f"(on a cluster the pod would stay pending)",
                location=Location(field=field_path),
                hint=f"loaded {kind}s: {', '.join(known) or 'none'}; or mark the reference optional: true",
            )
        return found


def _strings(value: Any, what: FieldPath, locate: Locate, *, data_keys: bool = True) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput("a mapping of key: value is expected here", location=locate(what))
    out: dict[str, str] = {}
    for key, item in value.items():
        path = (*what, key)
        if data_keys and not _KEY.match(key):  # annotation keys may hold a prefix/ (tekton.dev/git-0)
            raise InvalidInput(
                f"invalid key {key!r}: a key must consist of alphanumerics, '-', '_' or '.'",
                location=locate(path),
            )
        if not isinstance(item, str):
            # kubectl's strict decoding refuses `key: 3` too: the API field is map[string]string.
            raise InvalidInput(
                f"the value of {key!r} must be a string, not {type(item).__name__}",
                location=locate(path),
                hint=f'quote it: {key}: "{item}"',
            )
        out[key] = item
    return out


def _decoded(value: Any, what: FieldPath, locate: Locate) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for key, text in _strings(value, what, locate).items():
        try:  # Go's encoding/json decodes []byte with StdEncoding: padding required, no stray characters
            out[key] = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(
                f"the value of {key!r} is not valid base64",
                location=locate((*what, key)),
                hint="encode it with `base64 -w0`, or give the plain text under stringData instead",
            ) from None
    return out


def _meta(data: Mapping[str, Any], locate: Locate) -> tuple[str, dict[str, str]]:
    meta = data.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(meta, dict) or not isinstance(name, str) or not name:
        raise InvalidInput(
            f"a {data.get('kind')} needs metadata.name (generateName is not enough to refer to it)",
            location=locate(("metadata",)),
            hint="add metadata.name",
        )
    annotations = meta.get("annotations")
    return name, _strings(annotations, ("metadata", "annotations"), locate, data_keys=False)


def _names(value: Any, what: str, locate: Locate) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(
        isinstance(v, dict) and isinstance(v.get("name"), str) for v in value
    ):
        raise InvalidInput("a list of {name: ...} is expected here", location=locate((what,)))
    return tuple(v["name"] for v in value)


def parse_kube_object(data: Mapping[str, Any], locate: Locate) -> KubeObject:
    """A ConfigMap, Secret or ServiceAccount (apiVersion v1) as a frozen value; InvalidInput if bad."""
    kind = data.get("kind")
    name, annotations = _meta(data, locate)
    if kind == "ConfigMap":
        text = {k: v.encode() for k, v in _strings(data.get("data"), ("data",), locate).items()}
        binary = _decoded(data.get("binaryData"), ("binaryData",), locate)
        both = sorted(set(text) & set(binary))
        if both:
            raise InvalidInput(
                f"key {both[0]!r} is in both data and binaryData", location=locate(("binaryData", both[0]))
            )
        return ConfigMap(name, MappingProxyType({**text, **binary}), MappingProxyType(annotations))
    if kind == "Secret":
        decoded = _decoded(data.get("data"), ("data",), locate)
        decoded.update(
            (k, v.encode()) for k, v in _strings(data.get("stringData"), ("stringData",), locate).items()
        )
        kind_of = data.get("type") or "Opaque"
        if not isinstance(kind_of, str):
            raise InvalidInput("type must be a string", location=locate(("type",)))
        _check_typed(kind_of, decoded, locate)
        return Secret(name, MappingProxyType(decoded), kind_of, MappingProxyType(annotations))
    if kind == "ServiceAccount":
        return ServiceAccount(
            name,
            _names(data.get("secrets"), "secrets", locate),
            _names(data.get("imagePullSecrets"), "imagePullSecrets", locate),
        )
    raise InvalidInput(f"{kind} is not a kind kept locally", location=locate(("kind",)))


def _check_typed(kind: str, data: Mapping[str, bytes], locate: Locate) -> None:
    missing = [k for k in _REQUIRED_KEYS.get(kind, ()) if k not in data]
    if kind == "kubernetes.io/basic-auth" and "username" not in data and "password" not in data:
        missing = ["username or password"]
    if missing:
        raise InvalidInput(
            f"a Secret of type {kind} needs the key {missing[0]!r}", location=locate(("type",))
        )
    for key in {
        "kubernetes.io/dockerconfigjson": ".dockerconfigjson",
        "kubernetes.io/dockercfg": ".dockercfg",
    }.get(kind, ()):
        try:
            document = json.loads(data[key])
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise InvalidInput(f"the {key} key does not hold a JSON object", location=locate(("data", key)))
