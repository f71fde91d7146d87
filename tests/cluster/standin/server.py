"""A strict stand-in Kubernetes API server on 127.0.0.1, for the cluster-driving tests.

It speaks the REST shapes of the resources retrain uses (see kinds.py): discovery (`/api`, `/apis`, each
group-version's APIResourceList), namespaced CRUD, `?watch=true` streaming (chunked JSON lines, from a
resourceVersion, `410 Gone` for one too old, `timeoutSeconds`), label and `metadata.name` field selectors,
server-side apply (`application/apply-patch+yaml`, fieldManager required, `force`, conflicts), merge and
JSON patches, `dryRun=All`, `fieldValidation` (Strict refuses unknown fields, Warn prunes them and sends a
`Warning` header), status subresources, pods/log (with `follow`), bearer-token authentication (401) and
RBAC denials set by a test (403) - every error a Kubernetes `Status` object.

Controllers are simulated by the test (sims.py), through `StandIn.on_change` callbacks that run on a
worker thread after each write, as a real controller would react to a watch.
"""

from __future__ import annotations

import json
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from .kinds import KINDS, Kind, find
from .store import ApiError, Store, merge

Controller = Callable[[str, dict[str, Any]], None]
VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


@dataclass
class LogBook:
    """Container logs: lines appended by a simulated kubelet, `closed` when the container ended."""

    cond: threading.Condition = field(default_factory=threading.Condition)
    lines: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    closed: set[tuple[str, str, str]] = field(default_factory=set)

    def write(self, ns: str, pod: str, container: str, line: str) -> None:
        with self.cond:
            self.lines.setdefault((ns, pod, container), []).append(line)
            self.cond.notify_all()

    def close(self, ns: str, pod: str, container: str) -> None:
        with self.cond:
            self.lines.setdefault((ns, pod, container), [])
            self.closed.add((ns, pod, container))
            self.cond.notify_all()


class StandIn:
    """The server and its test hooks. Use as a context manager; `url` is its base URL."""

    def __init__(self, *, token: str = "standin-token", namespace: str = "retrain") -> None:
        self.store = Store()
        self.logs = LogBook()
        self.token = token
        self.namespace = namespace
        self.denied: set[tuple[str, str]] = set()  # (verb, group-resource) answered 403
        self.requests: list[tuple[str, str, str]] = []  # (method, path, content type) in arrival order
        self.controller_errors: list[str] = []
        self._controllers: dict[str, list[Controller]] = {}
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> StandIn:
        for target in (lambda: self._server.serve_forever(poll_interval=0.05), self._dispatch):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self.store.cond:
            self.store.cond.notify_all()
        with self.logs.cond:
            self.logs.cond.notify_all()
        self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def kubeconfig(self, path: Path, *, namespace: str | None = None, token: str | None = None) -> Path:
        """A kubeconfig file for this server (a context with a namespace and a bearer token)."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "standin", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": token or self.token}}],
            "contexts": [
                {
                    "name": "standin",
                    "context": {
                        "cluster": "standin",
                        "user": "tester",
                        "namespace": namespace or self.namespace,
                    },
                }
            ],
            "current-context": "standin",
        }
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return path

    # -- hooks for tests and simulated controllers -------------------------------------------------------

    def kind(self, plural: str) -> Kind:
        match = next((k for k in KINDS if k.plural == plural), None)
        assert match is not None, plural
        return match

    def deny(self, verb: str, plural: str) -> None:
        self.denied.add((verb, self.kind(plural).gr))

    def on_change(self, plural: str, controller: Controller) -> None:
        """Call `controller(event_type, obj)` on the worker thread after each write to `plural`."""
        self._controllers.setdefault(self.kind(plural).gr, []).append(controller)

    def get(self, plural: str, name: str, ns: str | None = None) -> dict[str, Any]:
        return self.store.get(self.kind(plural), ns or self.namespace, name)

    def find(self, plural: str, name: str, ns: str | None = None) -> dict[str, Any] | None:
        return self.store.find(self.kind(plural), ns or self.namespace, name)

    def items(self, plural: str, ns: str | None = None) -> list[dict[str, Any]]:
        return self.store.listing(self.kind(plural), ns or self.namespace)[0]

    def put(
        self, plural: str, obj: dict[str, Any], ns: str | None = None, *, manager: str = "standin-controller"
    ) -> dict[str, Any]:
        """Create or replace `obj` (spec and metadata) as a controller would, validated like any write."""
        kind, namespace = self.kind(plural), ns or self.namespace
        name = obj["metadata"]["name"]
        if self.store.find(kind, namespace, name) is None:
            return self.store.create(kind, namespace, obj, manager=manager, strict=True)[0]
        return self.store.update(kind, namespace, name, obj, manager=manager, strict=True)[0]

    def set_status(
        self, plural: str, name: str, status: dict[str, Any], ns: str | None = None
    ) -> dict[str, Any]:
        """Write the status subresource, as the controller of `plural` would."""
        kind, namespace = self.kind(plural), ns or self.namespace
        live = self.store.get(kind, namespace, name)
        live["status"] = status
        return self.store.update(
            kind, namespace, name, live, manager="standin-controller", strict=True, subresource="status"
        )[0]

    def _dispatch(self) -> None:
        cursor = self.store.rv
        while not self._stopping.is_set():
            with self.store.cond:
                self.store.cond.wait_for(
                    lambda seen=cursor: self._stopping.is_set() or self.store.rv > seen,  # type: ignore[misc]
                    timeout=0.5,
                )
                events = [e for e in self.store.events if e.rv > cursor]
                cursor = self.store.rv
            for event in events:
                for controller in self._controllers.get(event.gr, []):
                    try:
                        controller(event.type, event.obj)
                    except Exception:  # a broken simulation must show in the test, not vanish
                        self.controller_errors.append(traceback.format_exc())
                        print(self.controller_errors[-1], file=sys.stderr)


def _handler(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        server_standin = standin

    return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two writes; no 40 ms delayed-ACK stall
    server_standin: StandIn

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    # -- plumbing ----------------------------------------------------------------------------------------

    def _serve(self, method: str) -> None:
        standin = self.server_standin
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        standin.requests.append((method, self.path, content_type))
        try:
            if self.headers.get("Authorization") != f"Bearer {standin.token}":
                raise ApiError(401, "Unauthorized", "Unauthorized")
            self._route(method, split.path, query, raw, content_type)
        except ApiError as err:
            self._json(err.code, err.status())
        except BrokenPipeError:
            return

    def _json(self, code: int, body: Any, warnings: list[str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for warning in warnings or []:
            self.send_header("Warning", f'299 - "{warning}"')
        self.end_headers()
        self.wfile.write(data)

    def _chunks(self, content_type: str, lines: Iterator[str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for line in lines:
                data = line.encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _route(self, method: str, path: str, query: dict[str, str], raw: bytes, content_type: str) -> None:
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["api"]:
            group, rest = "", parts[1:]
        elif parts[:1] == ["apis"]:
            group, rest = (parts[1] if len(parts) > 1 else ""), parts[2:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            return self._json(200, _discovery_root(group, parts))
        version, rest = rest[0], rest[1:]
        if not rest:
            return self._json(200, _discovery(group, version))
        ns: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            ns, rest = rest[1], rest[2:]
        kind = find(group, version, rest[0])
        if kind is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        watch = query.get("watch") in ("true", "1")
        verb = "watch" if watch else ("list" if method == "GET" and not name else VERBS[method])
        if (verb, kind.gr) in self.server_standin.denied:
            user = f"system:serviceaccount:{self.server_standin.namespace}:retrain"
            scope = f' in the namespace "{ns}"' if ns else " at the cluster scope"
            resource = f"{kind.plural}/{sub}" if sub else kind.plural
            raise ApiError(
                403,
                "Forbidden",
                f'{kind.gr} "{name}" is forbidden: User "{user}" cannot {verb} resource "{resource}" in '
                f'API group "{kind.group}"{scope}'
                if name
                else f'{kind.gr} is forbidden: User "{user}" cannot {verb} resource "{resource}" in API '
                f'group "{kind.group}"{scope}',
                details={"name": name, "group": kind.group, "kind": kind.plural},
            )
        if kind.namespaced and ns is None and not (method == "GET" and not name):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        ns_ = ns or ""
        store = self.server_standin.store
        strict = query.get("fieldValidation", "Warn") == "Strict"
        dry = query.get("dryRun") == "All"
        manager = query.get("fieldManager") or "standin-unknown-client"
        if sub == "log" and kind.plural == "pods" and method == "GET":
            return self._log(ns_, name, query)
        if sub not in ("", "status"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if method == "GET" and watch:
            return self._watch(kind, ns, query)
        if method == "GET" and not name:
            items, rv = store.listing(kind, ns)
            items = [o for o in items if _selected(o, query)]
            return self._json(
                200,
                {
                    "kind": f"{kind.kind}List",
                    "apiVersion": kind.api_version,
                    "metadata": {"resourceVersion": str(rv)},
                    "items": items,
                },
            )
        if method == "GET":
            return self._json(200, store.get(kind, ns_, name))
        body: Any = None
        if method in ("POST", "PUT", "PATCH"):
            body = _decode(raw, content_type)
        if method == "POST" and not name:
            obj, warnings = store.create(kind, ns_, body, manager=manager, strict=strict, dry_run=dry)
            return self._json(201, obj, warnings)
        if method == "PUT":
            obj, warnings = store.update(
                kind, ns_, name, body, manager=manager, strict=strict, subresource=sub, dry_run=dry
            )
            return self._json(200, obj, warnings)
        if method == "PATCH":
            return self._patch(
                kind, ns_, name, sub, body, content_type, query, strict=strict, dry=dry, manager=manager
            )
        if method == "DELETE":
            obj = store.delete(kind, ns_, name)
            return self._json(
                200,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": {
                        "name": name,
                        "group": kind.group,
                        "kind": kind.plural,
                        "uid": obj["metadata"]["uid"],
                    },
                },
            )
        raise ApiError(
            405,
            "MethodNotAllowed",
            f"the server does not allow this method on the requested resource ({method})",
        )

    def _patch(
        self,
        kind: Kind,
        ns: str,
        name: str,
        sub: str,
        body: Any,
        content_type: str,
        query: dict[str, str],
        *,
        strict: bool,
        dry: bool,
        manager: str,
    ) -> None:
        store = self.server_standin.store
        if content_type == "application/apply-patch+yaml":
            if not query.get("fieldManager"):
                raise ApiError(
                    422,
                    "Invalid",
                    'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for '
                    "apply patch",
                    causes=[
                        {
                            "reason": "FieldValueRequired",
                            "message": "Required value: is required for apply patch",
                            "field": "fieldManager",
                        }
                    ],
                )
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "error decoding YAML: the apply patch must be an object")
            existed = store.find(kind, ns, name) is not None
            obj, warnings = store.apply(
                kind,
                ns,
                name,
                body,
                manager=manager,
                force=query.get("force") == "true",
                strict=strict,
                dry_run=dry,
            )
            return self._json(200 if existed else 201, obj, warnings)
        live = store.get(kind, ns, name)
        if content_type == "application/merge-patch+json" or (
            content_type == "application/strategic-merge-patch+json" and not kind.group
        ):
            if not isinstance(body, dict):
                raise ApiError(
                    400, "BadRequest", "json: cannot unmarshal a merge patch that is not an object"
                )
            new = merge(live, body)
        elif content_type == "application/json-patch+json":
            new = _json_patch(live, body)
        else:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include: "
                "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml "
                f"(got {content_type or 'none'})",
            )
        if "resourceVersion" not in (body.get("metadata") or {} if isinstance(body, dict) else {}):
            new["metadata"].pop("resourceVersion", None)
        obj, warnings = store.update(
            kind, ns, name, new, manager=manager, strict=strict, subresource=sub, dry_run=dry
        )
        return self._json(200, obj, warnings)

    def _watch(self, kind: Kind, ns: str | None, query: dict[str, str]) -> None:
        standin = self.server_standin
        store = standin.store
        timeout = float(query.get("timeoutSeconds") or 1800)
        start_rv = query.get("resourceVersion", "")
        with store.cond:
            if start_rv in ("", "0"):
                cursor = store.rv
                initial = [
                    {"type": "ADDED", "object": o} for o in store.listing(kind, ns)[0] if _selected(o, query)
                ]
            else:
                cursor = int(start_rv)
                initial = []
                if store.events and cursor < store.events[0].rv - 1:
                    initial = [
                        {
                            "type": "ERROR",
                            "object": ApiError(
                                410, "Expired", f"too old resource version: {cursor}"
                            ).status(),
                        }
                    ]
        import time

        deadline = time.monotonic() + timeout

        def lines() -> Iterator[str]:
            nonlocal cursor
            for event in initial:
                yield json.dumps(event) + "\n"
            if initial and initial[0]["type"] == "ERROR":
                return
            while not standin._stopping.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                with store.cond:
                    store.cond.wait_for(
                        lambda seen=cursor: standin._stopping.is_set() or store.rv > seen,  # type: ignore[misc]
                        timeout=min(left, 0.5),
                    )
                    events = [e for e in store.events if e.rv > cursor]
                    cursor = max([cursor, *(e.rv for e in events)])
                for e in events:
                    if e.gr == kind.gr and (ns is None or e.namespace == ns) and _selected(e.obj, query):
                        yield json.dumps({"type": e.type, "object": e.obj}) + "\n"

        self._chunks("application/json", lines())

    def _log(self, ns: str, name: str, query: dict[str, str]) -> None:
        standin = self.server_standin
        pod = standin.store.get(standin.kind("pods"), ns, name)
        containers = [c["name"] for c in pod["spec"].get("containers", [])]
        container = query.get("container") or (containers[0] if len(containers) == 1 else "")
        if not container:
            raise ApiError(
                400,
                "BadRequest",
                f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]",
            )
        if container not in containers:
            raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
        state = next(
            (
                s.get("state") or {}
                for s in (pod.get("status") or {}).get("containerStatuses") or []
                if s.get("name") == container
            ),
            {},
        )
        if "running" not in state and "terminated" not in state:
            reason = (state.get("waiting") or {}).get("reason") or "ContainerCreating"
            raise ApiError(
                400, "BadRequest", f'container "{container}" in pod "{name}" is waiting to start: {reason}'
            )
        follow = query.get("follow") in ("true", "1")
        key = (ns, name, container)
        book = standin.logs

        def lines() -> Iterator[str]:
            sent = 0
            while True:
                with book.cond:
                    book.cond.wait_for(
                        lambda done=sent: (  # type: ignore[misc]
                            standin._stopping.is_set()
                            or len(book.lines.get(key, [])) > done
                            or key in book.closed
                            or not follow
                        ),
                        timeout=0.5,
                    )
                    fresh = book.lines.get(key, [])[sent:]
                    done = key in book.closed or not follow or standin._stopping.is_set()
                sent += len(fresh)
                for line in fresh:
                    yield line + "\n"
                if done:
                    with book.cond:
                        rest = book.lines.get(key, [])[sent:]
                    for line in rest:
                        yield line + "\n"
                    return

        self._chunks("text/plain", lines())


def _decode(raw: bytes, content_type: str) -> Any:
    try:
        if content_type.endswith("yaml"):
            return yaml.safe_load(raw.decode() or "{}")
        return json.loads(raw or b"null")
    except (ValueError, yaml.YAMLError) as err:
        raise ApiError(400, "BadRequest", f"the body of the request could not be decoded: {err}") from None


def _selected(obj: dict[str, Any], query: dict[str, str]) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in filter(None, (query.get("labelSelector") or "").split(",")):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    for term in filter(None, (query.get("fieldSelector") or "").split(",")):
        key, _, value = term.partition("=")
        have = {
            "metadata.name": obj["metadata"].get("name"),
            "metadata.namespace": obj["metadata"].get("namespace"),
        }
        if key not in have:
            raise ApiError(
                400,
                "BadRequest",
                f'"{key}" is not a known field selector: only "metadata.name", "metadata.namespace"',
            )
        if have[key] != value:
            return False
    return True


def _json_patch(live: dict[str, Any], ops: Any) -> dict[str, Any]:
    import copy

    doc = copy.deepcopy(live)
    if not isinstance(ops, list):
        raise ApiError(
            400, "BadRequest", "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
        )
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in str(op.get("path", "")).split("/")[1:]]
        parent: Any = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent.get(part)
            if parent is None:
                raise ApiError(
                    422,
                    "Invalid",
                    "the server rejected our request due to an error in our request: missing path "
                    f"{op.get('path')}",
                )
        last = parts[-1] if parts else ""
        kind = op.get("op")
        if kind == "test":
            have = parent[int(last)] if isinstance(parent, list) else parent.get(last)
            if have != op.get("value"):
                raise ApiError(
                    422,
                    "Invalid",
                    "the server rejected our request due to an error in our request: testing value "
                    f"{op.get('path')} failed",
                )
        elif kind in ("add", "replace"):
            if isinstance(parent, list):
                index = len(parent) if last == "-" else int(last)
                if kind == "add":
                    parent.insert(index, op.get("value"))
                else:
                    parent[index] = op.get("value")
            else:
                if kind == "replace" and last not in parent:
                    raise ApiError(
                        422,
                        "Invalid",
                        "the server rejected our request due to an error in our request: replace "
                        f"operation does not apply: doc is missing key: {op.get('path')}",
                    )
                parent[last] = op.get("value")
        elif kind == "remove":
            if isinstance(parent, list):
                parent.pop(int(last))
            elif last in parent:
                parent.pop(last)
            else:
                raise ApiError(
                    422,
                    "Invalid",
                    "the server rejected our request due to an error in our request: remove operation "
                    f"does not apply: doc is missing path: {op.get('path')}",
                )
        else:
            raise ApiError(400, "BadRequest", f"unsupported JSON patch operation {kind!r}")
    return doc


def _discovery_root(group: str, parts: list[str]) -> dict[str, Any]:
    if parts[0] == "api":
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
    groups: dict[str, list[str]] = {}
    for k in KINDS:
        if k.group:
            groups.setdefault(k.group, [])
            if k.version not in groups[k.group]:
                groups[k.group].append(k.version)
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            {
                "name": g,
                "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
                "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]},
            }
            for g, vs in sorted(groups.items())
        ],
    }


def _discovery(group: str, version: str) -> dict[str, Any]:
    kinds = [k for k in KINDS if (k.group, k.version) == (group, version)]
    if not kinds:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    resources: list[dict[str, Any]] = []
    for k in kinds:
        verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
        resources.append(
            {
                "name": k.plural,
                "singularName": k.kind.lower(),
                "namespaced": k.namespaced,
                "kind": k.kind,
                "verbs": verbs,
            }
        )
        if k.status:
            resources.append(
                {
                    "name": f"{k.plural}/status",
                    "singularName": "",
                    "namespaced": k.namespaced,
                    "kind": k.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
        if k.plural == "pods":
            resources.append(
                {"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod", "verbs": ["get"]}
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }
