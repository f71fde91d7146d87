"""A thin wrapper over the official `kubernetes` client: configuration, raw REST calls, watch, errors.

The official client (the optional extra `cluster`: `pip install 'retrain[cluster]'`) supplies what is hard
to get right: kubeconfig and in-cluster configuration, exec/OIDC token refresh, TLS, proxies. The requests
themselves are plain Kubernetes REST (`ApiClient.param_serialize` + `call_api`), the same for every kind,
so Tekton, KServe and the operator's resources need no generated classes and answers stay plain dicts.

Every failure becomes one of `retrain.errors` (mapped to exit codes in one place, `cli/exits.py`), with
the API server's own `Status` message and the field causes of a 422:
400/422 -> InvalidInput, 404 -> NotFound, 409 -> Conflict, 401/403 -> `Forbidden` (exit 1, names the verb,
resource and namespace, and where the RBAC is), 429/5xx and an unreachable server -> TemporaryError.
"""

from __future__ import annotations

import importlib
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrain.errors import (
    Conflict,
    InvalidInput,
    Location,
    NotFound,
    RetrainError,
    TemporaryError,
)

INSTALL_HINT = "pip install 'retrain[cluster]' (the official `kubernetes` client)"
IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
Query = list[tuple[str, str]]


class Forbidden(RetrainError):
    """The API server refused who we are (401) or what we asked (403): credentials or RBAC."""


@dataclass(frozen=True)
class Resource:
    """Where a kind lives in the REST API."""

    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def display(self) -> str:  # as the API server names it in messages: pipelineruns.tekton.dev
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
            if sub:
                base += f"/{sub}"
        return base


def _r(api_version: str, plural: str, kind: str, *, namespaced: bool = True) -> Resource:
    group, _, version = api_version.rpartition("/")
    return Resource(group, version, plural, kind, namespaced)


# The kinds retrain reads and writes; anything else is found through discovery (as kubectl does).
PIPELINERUN = _r("tekton.dev/v1", "pipelineruns", "PipelineRun")
TASKRUN = _r("tekton.dev/v1", "taskruns", "TaskRun")
POD = _r("v1", "pods", "Pod")
INFERENCESERVICE = _r("serving.kserve.io/v1beta1", "inferenceservices", "InferenceService")
NOTEBOOKJOB = _r("mlops.mlops.dev/v1alpha1", "notebookvalidationjobs", "NotebookValidationJob")
KNOWN: dict[tuple[str, str], Resource] = {
    (r.api_version, r.kind): r
    for r in (
        PIPELINERUN,
        TASKRUN,
        POD,
        INFERENCESERVICE,
        NOTEBOOKJOB,
        _r("tekton.dev/v1", "pipelines", "Pipeline"),
        _r("tekton.dev/v1", "tasks", "Task"),
        _r("v1", "persistentvolumeclaims", "PersistentVolumeClaim"),
        _r("v1", "serviceaccounts", "ServiceAccount"),
        _r("v1", "secrets", "Secret"),
        _r("v1", "configmaps", "ConfigMap"),
        _r("v1", "services", "Service"),
        _r("v1", "namespaces", "Namespace", namespaced=False),
        _r("rbac.authorization.k8s.io/v1", "roles", "Role"),
        _r("rbac.authorization.k8s.io/v1", "rolebindings", "RoleBinding"),
        _r("batch/v1", "cronjobs", "CronJob"),
    )
}


@dataclass(frozen=True)
class ClusterSettings:
    kubeconfig: str | None = None  # None: $KUBECONFIG, $RETRAIN_KUBECONFIG, ~/.kube/config, in-cluster
    context: str | None = None  # None: the kubeconfig's current context
    namespace: str | None = None  # None: the context's namespace, the pod's own namespace, else "default"
    request_timeout_s: float = 30.0


def _module(name: str) -> Any:
    """A module of the optional `kubernetes` package (typed Any: the generated client is untyped)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise InvalidInput(
            "talking to a Kubernetes cluster needs the official Kubernetes client, which is not installed",
            location=Location(field="cluster"),
            hint=INSTALL_HINT,
        ) from None


def _kubeconfig_path(settings: ClusterSettings, environ: Mapping[str, str]) -> str | None:
    if settings.kubeconfig:
        return settings.kubeconfig
    # RETRAIN_KUBECONFIG: the local engine passes only RETRAIN_* variables into a step's environment.
    for variable in ("KUBECONFIG", "RETRAIN_KUBECONFIG"):
        for candidate in environ.get(variable, "").split(os.pathsep):
            if candidate and Path(candidate).expanduser().is_file():
                return candidate
    default = Path(environ.get("HOME", str(Path.home()))) / ".kube" / "config"
    return str(default) if default.is_file() else None


def connect(settings: ClusterSettings | None = None, *, environ: Mapping[str, str] | None = None) -> Cluster:
    """A `Cluster` from a kubeconfig (the given one, $KUBECONFIG, ~/.kube/config) or the in-cluster config."""
    settings = settings or ClusterSettings()
    env = os.environ if environ is None else environ
    client, config = _module("kubernetes.client"), _module("kubernetes.config")
    configuration = client.Configuration()
    path = _kubeconfig_path(settings, env)
    namespace = settings.namespace
    try:
        if path is not None:
            config.load_kube_config(
                config_file=path,
                context=settings.context,
                client_configuration=configuration,
                persist_config=False,
            )
            contexts, active = config.list_kube_config_contexts(config_file=path)
            chosen = next((c for c in contexts if c.get("name") == settings.context), active)
            namespace = namespace or (chosen or {}).get("context", {}).get("namespace")
        else:
            config.load_incluster_config(client_configuration=configuration)
            if not namespace and IN_CLUSTER_NAMESPACE.is_file():
                namespace = IN_CLUSTER_NAMESPACE.read_text(encoding="utf-8").strip()
    except config.ConfigException as err:
        where = path or "the in-cluster service account"
        raise InvalidInput(
            f"cannot read the Kubernetes configuration from {where}: {err}",
            location=Location(field="kubeconfig"),
            hint="set KUBECONFIG or --kubeconfig to a kubeconfig file, or run inside a pod",
        ) from None
    return Cluster(client.ApiClient(configuration), namespace or "default", settings.request_timeout_s)


class Cluster:
    """One API server: REST calls with Kubernetes' content types, watch streams, discovery, errors."""

    def __init__(self, api: Any, namespace: str, request_timeout_s: float = 30.0) -> None:
        self.api = api
        self.namespace = namespace
        self.request_timeout_s = request_timeout_s
        self._discovered: dict[str, list[dict[str, Any]]] = {}

    @property
    def host(self) -> str:
        return str(self.api.configuration.host)

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- raw calls ---------------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        body: Any = None,
        content_type: str | None = None,
        accept: str = "application/json",
        timeout: Any = None,
    ) -> Any:
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
        request = self.api.param_serialize(
            method=method,
            resource_path=path,
            query_params=list(query or []),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        urllib3 = importlib.import_module("urllib3")
        try:
            response = self.api.call_api(*request, _request_timeout=timeout or self.request_timeout_s)
        except urllib3.exceptions.HTTPError as err:
            raise TemporaryError(
                f"cannot reach the Kubernetes API at {self.host}: {type(err).__name__}: {err}",
                retry_after_s=5.0,
                hint="check the kubeconfig's server address and the network (and `kubectl cluster-info`)",
            ) from None
        return response

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        body: Any = None,
        content_type: str | None = None,
        what: str = "",
    ) -> Any:
        """One call; the decoded JSON answer, or the matching `retrain.errors` exception."""
        response = self._send(method, path, query=query, body=body, content_type=content_type)
        data = response.read()
        if not 200 <= response.status <= 299:
            raise api_error(response.status, data, what or f"{method} {path}", response.headers)
        return json.loads(data) if data else None

    def stream(
        self, path: str, *, query: Query, what: str, read_timeout_s: float | None = None
    ) -> Iterator[str]:
        """GET a streaming answer (watch, follow a log) and yield it line by line as it arrives."""
        response = self._send("GET", path, query=query, timeout=(self.request_timeout_s, read_timeout_s))
        if not 200 <= response.status <= 299:
            raise api_error(response.status, response.read(), what, response.headers)
        raw = response.response
        pending = b""
        try:
            for chunk in raw.stream(amt=None, decode_content=True):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    yield line.decode("utf-8", errors="replace")
            if pending:
                yield pending.decode("utf-8", errors="replace")
        except importlib.import_module("urllib3").exceptions.HTTPError as err:
            if "timed out" not in str(err).lower():
                raise TemporaryError(f"{what}: the stream from {self.host} broke: {err}") from None
        finally:
            raw.release_conn()

    # -- objects -----------------------------------------------------------------------------------------

    def resource(self, api_version: str, kind: str) -> Resource:
        """Where `kind` lives: the built-in table, else the server's discovery document (cached)."""
        known = KNOWN.get((api_version, kind))
        if known is not None:
            return known
        if api_version not in self._discovered:
            group, _, version = api_version.rpartition("/")
            path = f"/apis/{group}/{version}" if group else f"/api/{version}"
            try:
                listing = self.request("GET", path, what=f"discovery of {api_version}")
            except NotFound:
                listing = {"resources": []}
            self._discovered[api_version] = list((listing or {}).get("resources") or [])
        for entry in self._discovered[api_version]:
            if entry.get("kind") == kind and "/" not in str(entry.get("name")):
                group, _, version = api_version.rpartition("/")
                return Resource(group, version, entry["name"], kind, bool(entry.get("namespaced")))
        raise NotFound(
            f"the cluster at {self.host} does not serve {kind} ({api_version})",
            hint="is the operator that defines it installed (its CRD applied)?",
        )

    def get(self, res: Resource, name: str, namespace: str | None = None) -> dict[str, Any]:
        ns = namespace or self.namespace
        return dict(self.request("GET", res.path(ns, name), what=f"get {res.kind} {name} in {ns}"))

    def list(
        self, res: Resource, namespace: str | None = None, *, labels: str = "", fields: str = ""
    ) -> dict[str, Any]:
        ns = namespace or self.namespace
        query = [(k, v) for k, v in (("labelSelector", labels), ("fieldSelector", fields)) if v]
        return dict(self.request("GET", res.path(ns), query=query, what=f"list {res.plural} in {ns}"))

    def create(self, res: Resource, body: Mapping[str, Any], namespace: str | None = None) -> dict[str, Any]:
        ns = namespace or self.namespace
        name = body.get("metadata", {}).get("name") or body.get("metadata", {}).get("generateName", "")
        query = [("fieldValidation", "Strict"), ("fieldManager", "retrain")]
        return dict(
            self.request("POST", res.path(ns), query=query, body=dict(body), what=f"create {res.kind} {name}")
        )

    def patch(
        self,
        res: Resource,
        name: str,
        body: Any,
        namespace: str | None = None,
        *,
        content_type: str = MERGE,
        manager: str = "retrain",
        sub: str | None = None,
    ) -> dict[str, Any]:
        ns = namespace or self.namespace
        query = [("fieldValidation", "Strict"), ("fieldManager", manager)]
        return dict(
            self.request(
                "PATCH",
                res.path(ns, name, sub),
                query=query,
                body=body,
                content_type=content_type,
                what=f"patch {res.kind} {name} in {ns}",
            )
        )

    def apply(
        self,
        res: Resource,
        body: Mapping[str, Any],
        namespace: str | None = None,
        *,
        manager: str = "retrain",
        force: bool = False,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Server-side apply (`application/apply-patch+yaml`): the server merges and tracks ownership."""
        name = str(body["metadata"]["name"])
        ns = namespace or self.namespace
        query = [("fieldManager", manager), ("fieldValidation", "Strict")]
        if force:
            query.append(("force", "true"))
        if dry_run:
            query.append(("dryRun", "All"))
        return dict(
            self.request(
                "PATCH",
                res.path(ns, name),
                query=query,
                body=dict(body),
                content_type=APPLY,
                what=f"apply {res.kind} {name}" + (f" in {ns}" if res.namespaced else ""),
            )
        )

    def delete(self, res: Resource, name: str, namespace: str | None = None) -> None:
        ns = namespace or self.namespace
        self.request("DELETE", res.path(ns, name), what=f"delete {res.kind} {name} in {ns}")

    def watch(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        resource_version: str = "",
        timeout_s: float = 60.0,
        labels: str = "",
        name: str = "",
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(type, object) events of one watch call; it ends when the server closes it (after timeout_s)."""
        ns = namespace or self.namespace
        query: Query = [("watch", "true"), ("timeoutSeconds", str(max(1, int(timeout_s + 0.999))))]
        if resource_version:
            query.append(("resourceVersion", resource_version))
            query.append(("allowWatchBookmarks", "true"))
        if labels:
            query.append(("labelSelector", labels))
        if name:
            query.append(("fieldSelector", f"metadata.name={name}"))
        what = f"watch {res.plural} in {ns}"
        for line in self.stream(res.path(ns), query=query, what=what, read_timeout_s=timeout_s + 10):
            if not line.strip():
                continue
            event = json.loads(line)
            kind, obj = str(event.get("type")), dict(event.get("object") or {})
            if kind == "ERROR":
                code = int(obj.get("code") or 500)
                if code == 410:  # resourceVersion too old: the caller lists again
                    return
                raise api_error(code, json.dumps(obj).encode(), what, {})
            yield kind, obj

    def wait_for(
        self,
        res: Resource,
        name: str,
        done: Callable[[dict[str, Any]], bool],
        *,
        timeout_s: float,
        namespace: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> tuple[bool, dict[str, Any]]:
        """Watch one object until `done(obj)` or the deadline: (reached, the last object seen)."""
        deadline = clock() + timeout_s
        obj = self.get(res, name, namespace)
        while not done(obj):
            left = deadline - clock()
            if left <= 0:
                return False, obj
            rv = str(obj.get("metadata", {}).get("resourceVersion", ""))
            for kind, seen in self.watch(
                res, namespace, resource_version=rv, timeout_s=min(left, 60.0), name=name
            ):
                if kind == "DELETED":
                    raise NotFound(f"{res.kind} {name} was deleted while retrain waited for it")
                if kind in ("ADDED", "MODIFIED"):
                    obj = seen
                    if done(obj) or clock() >= deadline:
                        break
            else:
                obj = self.get(res, name, namespace)  # the watch ended (timeout or 410): look again
        return True, obj

    def pod_log(self, namespace: str, pod: str, container: str, *, follow: bool) -> Iterator[str]:
        query: Query = [("container", container)]
        if follow:
            query.append(("follow", "true"))
        path = POD.path(namespace, pod, "log")
        yield from self.stream(
            path, query=query, what=f"logs of {pod}/{container}", read_timeout_s=None if follow else 60
        )


def status_of(data: bytes | str | None) -> dict[str, Any]:
    """The Kubernetes `Status` in an error answer ({} when it is not one)."""
    try:
        body = json.loads(data or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def api_error(status: int, data: bytes | None, what: str, headers: Mapping[str, str]) -> RetrainError:
    """The retrain error for an API answer that is not 2xx, with the server's own words."""
    st = status_of(data)
    message = str(st.get("message") or (data or b"").decode("utf-8", errors="replace")[:300] or status)
    reason = str(st.get("reason") or "")
    causes = [
        f"{c.get('field') or '(object)'}: {c.get('message') or c.get('reason')}"
        for c in (st.get("details") or {}).get("causes") or []
        if isinstance(c, dict)
    ]
    head = f"{what}: {message}"
    if causes and not all(c.split(": ", 1)[1] in message for c in causes):
        head += "\n" + "\n".join(f"  {c}" for c in causes)
    if status in (400, 422):
        return InvalidInput(head, hint="fix the object and apply it again")
    if status == 404:
        return NotFound(head, hint="check the name and the namespace (--namespace)")
    if status == 409:
        hint = (
            "another field manager owns these fields; apply with --force-conflicts to take them over"
            if "conflict" in message.lower() and "apply" in what
            else "someone changed it at the same time; try again"
        )
        return Conflict(head, hint=hint)
    if status in (401, 403):
        return Forbidden(
            head,
            hint="the credentials in use lack this permission: check the kubeconfig user or the "
            "ServiceAccount's Role/RoleBinding (docs/cluster-driving.md lists what each command needs)",
        )
    if status == 429 or status >= 500:
        retry = headers.get("Retry-After") if headers else None
        delay = float(retry) if retry and retry.isdigit() else 5.0
        return TemporaryError(head, retry_after_s=delay, hint="the API server is busy; try again")
    return RetrainError(f"{head} (HTTP {status}{', ' + reason if reason else ''})")
