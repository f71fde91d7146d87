"""The stand-in's object store: Kubernetes write semantics, field ownership and a watch event log.

What it keeps as the API server does: a global resourceVersion (no-op writes do not bump it), `generation`
bumped on changes outside metadata and status, the status subresource (writes to the main resource keep the
live status; `/status` writes change only status), optimistic concurrency on metadata.resourceVersion,
`generateName`, and server-side apply field ownership per manager (leaf fields; lists are atomic, as in a CRD
without list-map keys): fields another manager owns with a different value are a 409 conflict unless
forced, fields a manager stops applying are removed, non-apply writes take over the fields they change.
"""

from __future__ import annotations

import copy
import random
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .kinds import Kind, schema_for
from .schema import Problems, core_problems, structural

Key = tuple[str, str, str]  # (group-resource, namespace, name)
Path = tuple[str, ...]
SYSTEM_META = frozenset(
    {
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "managedFields",
        "selfLink",
        "name",
        "namespace",
    }
)
NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class ApiError(Exception):
    """A Kubernetes `Status` failure."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        causes: list[dict[str, str]] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.details = dict(details or {})
        if causes:
            self.details["causes"] = causes

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


@dataclass
class Event:
    rv: int
    gr: str
    namespace: str
    type: str
    obj: dict[str, Any]


@dataclass
class Owner:
    operation: str  # "Apply" or "Update"
    api_version: str
    paths: set[Path] = field(default_factory=set)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def leaves(value: Any, prefix: Path = ()) -> dict[Path, Any]:
    """The owned fields of an object: leaf values (lists atomic), without system metadata and status."""
    out: dict[Path, Any] = {}
    if isinstance(value, dict) and value:
        for key, item in value.items():
            if not prefix and key in ("status", "apiVersion", "kind"):
                continue
            if prefix == ("metadata",) and key in SYSTEM_META:
                continue
            out.update(leaves(item, (*prefix, key)))
    elif prefix:
        out[prefix] = value
    return out


def get_path(obj: Any, path: Path) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def delete_path(obj: dict[str, Any], path: Path) -> None:
    parents = [obj]
    for key in path[:-1]:
        nxt = parents[-1].get(key)
        if not isinstance(nxt, dict):
            return
        parents.append(nxt)
    parents[-1].pop(path[-1], None)
    for depth in range(len(parents) - 1, 0, -1):  # drop maps left empty
        if not parents[depth]:
            parents[depth - 1].pop(path[depth - 1], None)


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 JSON merge patch."""
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def overlaps(a: Path, b: Path) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def fields_v1(paths: set[Path]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for key in path:
            node = node.setdefault(f"f:{key}", {})
    return tree


class Store:
    def __init__(self, seed: int = 7) -> None:
        self.cond = threading.Condition()
        self.objects: dict[Key, dict[str, Any]] = {}
        self.owners: dict[Key, dict[str, Owner]] = {}
        self.events: list[Event] = []
        self.rv = 1000
        self._random = random.Random(seed)
        self._uids = 0

    # -- reads -------------------------------------------------------------------------------------------

    def get(self, kind: Kind, ns: str, name: str) -> dict[str, Any]:
        with self.cond:
            obj = self.objects.get((kind.gr, ns, name))
            if obj is None:
                raise ApiError(
                    404,
                    "NotFound",
                    f'{kind.gr} "{name}" not found',
                    details={"name": name, "group": kind.group, "kind": kind.plural},
                )
            return copy.deepcopy(obj)

    def find(self, kind: Kind, ns: str, name: str) -> dict[str, Any] | None:
        with self.cond:
            obj = self.objects.get((kind.gr, ns, name))
            return copy.deepcopy(obj) if obj is not None else None

    def listing(self, kind: Kind, ns: str | None) -> tuple[list[dict[str, Any]], int]:
        with self.cond:
            items = [
                copy.deepcopy(o)
                for (gr, n, _), o in sorted(self.objects.items())
                if gr == kind.gr and (ns is None or n == ns)
            ]
            return items, self.rv

    # -- writes ------------------------------------------------------------------------------------------

    def create(
        self, kind: Kind, ns: str, body: dict[str, Any], *, manager: str, strict: bool, dry_run: bool = False
    ) -> tuple[dict[str, Any], list[str]]:
        with self.cond:
            meta = body.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                suffix = "".join(self._random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
                meta["name"] = f"{meta['generateName']}{suffix}"
            name = str(meta.get("name") or "")
            if not name:
                raise ApiError(
                    422,
                    "Invalid",
                    f'{kind.kind}.{kind.group or "core"} "" is invalid: metadata.name: Required value: '
                    "name or generateName is required",
                    causes=[
                        {
                            "reason": "FieldValueRequired",
                            "message": "Required value: name or generateName is required",
                            "field": "metadata.name",
                        }
                    ],
                )
            if (kind.gr, ns, name) in self.objects:
                raise ApiError(
                    409,
                    "AlreadyExists",
                    f'{kind.gr} "{name}" already exists',
                    details={"name": name, "group": kind.group, "kind": kind.plural},
                )
            obj, warnings = self._admit(kind, ns, None, body, strict=strict, subresource="")
            if dry_run:
                return obj, warnings
            owners = {manager: Owner("Update", kind.api_version, set(leaves(obj)))}
            return self._commit(kind, ns, name, None, obj, owners), warnings

    def update(
        self,
        kind: Kind,
        ns: str,
        name: str,
        new: dict[str, Any],
        *,
        manager: str,
        strict: bool,
        subresource: str = "",
        dry_run: bool = False,
    ) -> tuple[dict[str, Any], list[str]]:
        """PUT, or the result of a merge/JSON patch: `new` is the whole object as the client wants it."""
        with self.cond:
            live = self.get(kind, ns, name)
            want_rv = str(new.get("metadata", {}).get("resourceVersion") or "")
            if want_rv and want_rv != live["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {kind.gr} "{name}": the object has been modified; '
                    "please apply your changes to the latest version and try again",
                    details={"name": name, "group": kind.group, "kind": kind.plural},
                )
            obj, warnings = self._admit(kind, ns, live, new, strict=strict, subresource=subresource)
            if dry_run:
                return obj, warnings
            owners = copy.deepcopy(self.owners.get((kind.gr, ns, name), {}))
            before, after = leaves(live), leaves(obj)
            changed = {
                p
                for p in set(before) | set(after)
                if before.get(p) != after.get(p) or (p in after) != (p in before)
            }
            for owner in owners.values():
                owner.paths -= {p for p in owner.paths if any(overlaps(p, c) for c in changed)}
            mine = owners.setdefault(manager, Owner("Update", kind.api_version))
            mine.paths |= {p for p in changed if p in after}
            return self._commit(kind, ns, name, live, obj, owners), warnings

    def apply(
        self,
        kind: Kind,
        ns: str,
        name: str,
        config: dict[str, Any],
        *,
        manager: str,
        force: bool,
        strict: bool,
        dry_run: bool = False,
    ) -> tuple[dict[str, Any], list[str]]:
        with self.cond:
            live = self.find(kind, ns, name)
            if live is None:
                config.setdefault("metadata", {})["name"] = name
                obj, warnings = self._admit(kind, ns, None, config, strict=strict, subresource="")
                if dry_run:
                    return obj, warnings
                owners = {manager: Owner("Apply", kind.api_version, set(leaves(config)))}
                return self._commit(kind, ns, name, None, obj, owners), warnings
            owners = copy.deepcopy(self.owners.get((kind.gr, ns, name), {}))
            applied = leaves(config)
            conflicts = []
            for other, owner in owners.items():
                if other == manager:
                    continue
                for path in applied:
                    for owned in owner.paths:
                        if overlaps(path, owned) and get_path(live, owned) != get_path(
                            config, owned if len(owned) >= len(path) else path
                        ):
                            conflicts.append((other, owner.api_version, owned))
            if conflicts and not force:
                lines = [
                    f'conflict with "{m}" using {v}: .{".".join(p)}' for m, v, p in sorted(set(conflicts))
                ]
                message = (
                    f"Apply failed with {len(lines)} conflict{'s' if len(lines) > 1 else ''}: "
                    + "\n".join(lines)
                )
                causes = [
                    {
                        "reason": "FieldManagerConflict",
                        "message": f'conflict with "{m}" using {v}',
                        "field": "." + ".".join(p),
                    }
                    for m, v, p in sorted(set(conflicts))
                ]
                raise ApiError(409, "Conflict", message, causes=causes)
            new = copy.deepcopy(live)
            previous = owners.get(manager, Owner("Apply", kind.api_version)).paths
            shared = set().union(*(o.paths for m, o in owners.items() if m != manager)) if owners else set()
            for path in previous - set(applied):
                if path not in shared:
                    delete_path(new, path)
            new = merge(new, {k: v for k, v in config.items() if k not in ("apiVersion", "kind")})
            new["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
            obj, warnings = self._admit(kind, ns, live, new, strict=strict, subresource="")
            if dry_run:
                return obj, warnings
            for other, owner in owners.items():
                if other != manager:
                    owner.paths -= {p for m, _, p in conflicts if m == other}
            owners[manager] = Owner("Apply", kind.api_version, set(applied))
            return self._commit(kind, ns, name, live, obj, owners), warnings

    def delete(self, kind: Kind, ns: str, name: str) -> dict[str, Any]:
        with self.cond:
            obj = self.get(kind, ns, name)
            del self.objects[(kind.gr, ns, name)]
            self.owners.pop((kind.gr, ns, name), None)
            self.rv += 1
            obj["metadata"]["resourceVersion"] = str(self.rv)
            self.events.append(Event(self.rv, kind.gr, ns, "DELETED", copy.deepcopy(obj)))
            self.cond.notify_all()
            return obj

    # -- internals ---------------------------------------------------------------------------------------

    def _admit(
        self,
        kind: Kind,
        ns: str,
        live: dict[str, Any] | None,
        body: dict[str, Any],
        *,
        strict: bool,
        subresource: str,
    ) -> tuple[dict[str, Any], list[str]]:
        """The object that would be stored: system fields set, status rules applied, body validated."""
        body = copy.deepcopy(body)
        api_version, kind_name = body.get("apiVersion"), body.get("kind")
        if api_version is not None and api_version != kind.api_version:
            raise ApiError(
                400,
                "BadRequest",
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({kind.api_version})",
            )
        if kind_name is not None and kind_name != kind.kind:
            raise ApiError(
                400,
                "BadRequest",
                f"the kind in the data ({kind_name}) does not match the expected kind ({kind.kind})",
            )
        body["apiVersion"], body["kind"] = kind.api_version, kind.kind
        meta = body.setdefault("metadata", {})
        if meta.get("namespace") not in (None, ns) and kind.namespaced:
            raise ApiError(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request",
            )
        if live is not None:
            if subresource == "status":
                body = {**copy.deepcopy(live), "status": body.get("status")}
            elif kind.status:
                body["status"] = copy.deepcopy(live.get("status"))
                if body["status"] is None:
                    body.pop("status")
            meta = body["metadata"]
            for key in ("uid", "creationTimestamp", "name", "generation"):
                meta[key] = live["metadata"].get(key)
        elif kind.status:
            body.pop("status", None)
        if kind.namespaced:
            meta["namespace"] = ns
        meta.pop("managedFields", None)
        name = str(meta.get("name") or "")
        problems = Problems()
        if not NAME.match(name) or len(name) > 253:
            problems.invalid.append(
                (
                    "metadata.name",
                    "FieldValueInvalid",
                    f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower case '
                    "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
                    "character",
                )
            )
        for section in ("labels", "annotations"):
            for key, value in (meta.get(section) or {}).items():
                if not isinstance(value, str):
                    problems.invalid.append(
                        (
                            f"metadata.{section}.{key}",
                            "FieldValueTypeNotSupported",
                            f"Invalid value: {value!r}: must be a string",
                        )
                    )
        schema = schema_for(kind)
        if schema is not None:
            top = {k: v for k, v in body.items() if k != "metadata"}
            pruned = structural(top, schema, "", problems, prune=not strict)
            body = {**pruned, "metadata": body["metadata"]}
        elif kind.schema == "core":
            core = core_problems(body)
            if core is not None:
                problems.invalid.extend(core.invalid)
                problems.unknown.extend(core.unknown)
        if problems.unknown and strict:
            field_list = ", ".join(f'unknown field "{p}"' for p in problems.unknown)
            raise ApiError(400, "BadRequest", f"strict decoding error: {field_list}")
        if problems.invalid:
            head = "; ".join(f"{f}: {m}" for f, _, m in problems.invalid)
            message = (
                f'{kind.kind}.{kind.group or "core"} "{name}" is invalid: {head}'
                if kind.group
                else f'{kind.kind} "{name}" is invalid: {head}'
            )
            causes = [{"reason": r, "message": m, "field": f} for f, r, m in problems.invalid]
            raise ApiError(
                422,
                "Invalid",
                message,
                causes=causes,
                details={"name": name, "group": kind.group, "kind": kind.kind},
            )
        warnings = [f'unknown field "{p}"' for p in problems.unknown]
        return body, warnings

    def _commit(
        self,
        kind: Kind,
        ns: str,
        name: str,
        live: dict[str, Any] | None,
        obj: dict[str, Any],
        owners: dict[str, Owner],
    ) -> dict[str, Any]:
        key = (kind.gr, ns, name)
        meta = obj["metadata"]
        if live is None:
            self._uids += 1
            meta["uid"] = f"00000000-0000-4000-8000-{self._uids:012d}"
            meta["creationTimestamp"] = now()
            meta["generation"] = 1
        else:
            core = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
            was = {k: v for k, v in live.items() if k not in ("metadata", "status")}
            meta["generation"] = int(live["metadata"].get("generation") or 1) + (core != was)
            same_meta = {k: v for k, v in meta.items() if k not in ("resourceVersion", "managedFields")} == {
                k: v for k, v in live["metadata"].items() if k not in ("resourceVersion", "managedFields")
            }
            if core == was and same_meta and obj.get("status") == live.get("status"):
                return live  # a no-op write is not persisted and does not move resourceVersion
        self.rv += 1
        meta["resourceVersion"] = str(self.rv)
        self.owners[key] = {m: o for m, o in owners.items() if o.paths}
        meta["managedFields"] = [
            {
                "manager": m,
                "operation": o.operation,
                "apiVersion": o.api_version,
                "time": now(),
                "fieldsType": "FieldsV1",
                "fieldsV1": fields_v1(o.paths),
            }
            for m, o in sorted(self.owners[key].items())
        ]
        self.objects[key] = copy.deepcopy(obj)
        self.events.append(
            Event(self.rv, kind.gr, ns, "ADDED" if live is None else "MODIFIED", copy.deepcopy(obj))
        )
        self.cond.notify_all()
        return copy.deepcopy(obj)
