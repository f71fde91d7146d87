"""`retrain cluster apply DIR`: server-side apply of a rendered directory, field manager `retrain`.

Server-side apply makes a second apply of the same tree a no-op, removes fields that were dropped from the
tree since the last apply, and turns a field that another manager (a person's `kubectl edit`, a controller)
set differently into a 409 conflict naming the manager and the field, instead of silently overwriting it.

One deliberate exception keeps a re-apply from rolling a model back: an InferenceService that exists
keeps the `storageUri` (and the `retrain.dev/model-version` annotation) it serves now, since those belong
to `retrain deploy --target kserve`, not to the rendered tree.

Documents are read from the files a `kustomization.yaml` lists (else every *.yaml under DIR), validated
for the fields every object needs, and applied in dependency order (ServiceAccounts and RBAC before the
Pipelines that run under them, PVCs before the InferenceServices that mount them). Every object is tried;
each failure is reported with the API server's own message.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from retrain.cluster.client import INFERENCESERVICE, Cluster
from retrain.errors import InvalidInput, Location, NotFound, RetrainError

Action = Literal["created", "configured", "unchanged", "failed"]
MANAGER = "retrain"
MODEL_VERSION_ANNOTATION = "retrain.dev/model-version"
ORDER = (
    "Namespace",
    "CustomResourceDefinition",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "PersistentVolumeClaim",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "Task",
    "Pipeline",
    "TriggerBinding",
    "TriggerTemplate",
    "EventListener",
    "CronJob",
    "InferenceService",
)


@dataclass(frozen=True)
class Document:
    file: Path
    index: int  # position in its file (0-based)
    obj: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind"))

    @property
    def name(self) -> str:
        return str(self.obj.get("metadata", {}).get("name"))

    @property
    def where(self) -> str:
        return f"{self.file}#{self.index + 1}"


@dataclass(frozen=True)
class Applied:
    kind: str
    name: str
    namespace: str | None
    action: Action
    detail: str = ""
    error: RetrainError | None = None

    def line(self) -> str:
        ref = f"{self.kind.lower()}/{self.name}"
        return f"{ref} {self.action}" + (f": {self.detail}" if self.detail else "")


@dataclass(frozen=True)
class ApplyReport:
    items: tuple[Applied, ...]
    dry_run: bool

    @property
    def ok(self) -> bool:
        return all(i.error is None for i in self.items)

    @property
    def first_error(self) -> RetrainError | None:
        return next((i.error for i in self.items if i.error is not None), None)

    def lines(self) -> list[str]:
        suffix = " (server dry run)" if self.dry_run else ""
        return [item.line() + (suffix if item.error is None else "") for item in self.items]


def load_dir(directory: Path) -> tuple[list[Document], str | None]:
    """The documents of a rendered tree, and the kustomization's namespace (if any)."""
    if not directory.is_dir():
        raise InvalidInput(
            f"{directory} is not a directory",
            location=Location(file=str(directory)),
            hint="give the directory `retrain cluster render --out DIR` wrote",
        )
    namespace: str | None = None
    kustomization = directory / "kustomization.yaml"
    if kustomization.is_file():
        spec = yaml.safe_load(kustomization.read_text(encoding="utf-8")) or {}
        namespace = spec.get("namespace")
        files = [directory / str(name) for name in spec.get("resources") or []]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise InvalidInput(
                f"{kustomization} lists files that do not exist: {', '.join(missing)}",
                location=Location(file=str(kustomization), field="resources"),
                hint="render the tree again (retrain cluster render)",
            )
    else:
        files = sorted(p for p in directory.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    documents: list[Document] = []
    for file in files:
        try:
            loaded = list(yaml.safe_load_all(file.read_text(encoding="utf-8")))
        except yaml.YAMLError as err:
            raise InvalidInput(
                f"{file} is not valid YAML: {err}", location=Location(file=str(file))
            ) from None
        for index, obj in enumerate(loaded):
            if obj is None:
                continue
            doc = Document(file, index, obj)
            _check(doc)
            documents.append(doc)
    if not documents:
        raise InvalidInput(
            f"{directory} holds no Kubernetes documents", location=Location(file=str(directory))
        )
    rank = {kind: i for i, kind in enumerate(ORDER)}
    documents.sort(key=lambda d: rank.get(d.kind, len(ORDER)))  # stable: file order within a kind
    return documents, namespace


def _check(doc: Document) -> None:
    obj = doc.obj
    if not isinstance(obj, dict):
        raise InvalidInput(f"{doc.where} is not a mapping", location=Location(file=str(doc.file)))
    for key in ("apiVersion", "kind"):
        if not isinstance(obj.get(key), str) or not obj[key]:
            raise InvalidInput(f"{doc.where} has no {key}", location=Location(file=str(doc.file), field=key))
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        raise InvalidInput(
            f"{doc.where} ({obj['kind']}) has no metadata.name",
            location=Location(file=str(doc.file), field="metadata.name"),
            hint="server-side apply needs a name (generateName cannot be applied)",
        )


def apply_dir(
    cluster: Cluster,
    directory: Path,
    *,
    namespace: str | None = None,
    force: bool = False,
    dry_run: bool = False,
) -> ApplyReport:
    """Apply every document of `directory`; one `Applied` per document, failures included."""
    documents, kustomized = load_dir(directory)
    default_ns = namespace or kustomized or cluster.namespace
    items = [
        _apply_one(cluster, doc, namespace, default_ns, force=force, dry_run=dry_run) for doc in documents
    ]
    return ApplyReport(tuple(items), dry_run)


def _apply_one(
    cluster: Cluster, doc: Document, explicit: str | None, default_ns: str, *, force: bool, dry_run: bool
) -> Applied:
    obj = copy.deepcopy(doc.obj)
    declared = obj["metadata"].get("namespace")
    try:
        res = cluster.resource(str(obj["apiVersion"]), doc.kind)
        ns = declared or default_ns
        if explicit and declared and declared != explicit:
            raise InvalidInput(
                f"{doc.where}: {doc.kind} {doc.name} names namespace {declared!r}, not --namespace "
                f"{explicit!r}",
                location=Location(file=str(doc.file), field="metadata.namespace"),
                hint=f"drop --namespace or pass --namespace {declared}",
            )
        if res.namespaced:
            obj["metadata"]["namespace"] = ns
        before = _live(cluster, res, doc.name, ns)
        detail = ""
        if res == INFERENCESERVICE and before is not None:
            detail = keep_served_model(obj, before)
        after = cluster.apply(res, obj, ns, manager=MANAGER, force=force, dry_run=dry_run)
    except RetrainError as err:
        return Applied(doc.kind, doc.name, declared or default_ns, "failed", _one_line(err), err)
    action: Action = "created"
    if before is not None:
        same = before["metadata"].get("resourceVersion") == after["metadata"].get("resourceVersion")
        action = "unchanged" if same else "configured"
    return Applied(doc.kind, doc.name, ns if res.namespaced else None, action, detail)


def _live(cluster: Cluster, res: Any, name: str, ns: str) -> dict[str, Any] | None:
    try:
        return cluster.get(res, name, ns)
    except NotFound:
        return None


def storage_uri_path(isvc: dict[str, Any]) -> tuple[str, ...] | None:
    """Where the predictor's storageUri is: spec.predictor.model (new style) or spec.predictor.<format>."""
    predictor = (isvc.get("spec") or {}).get("predictor") or {}
    for key, value in predictor.items():
        if isinstance(value, dict) and "storageUri" in value:
            return ("spec", "predictor", key, "storageUri")
    return None


def keep_served_model(obj: dict[str, Any], live: dict[str, Any]) -> str:
    """Make the rendered InferenceService keep the model version that serves now; say so when it differs."""
    path = storage_uri_path(live)
    rendered = storage_uri_path(obj)
    if path is None or rendered is None or path != rendered:
        return ""
    live_uri = live["spec"]["predictor"][path[2]]["storageUri"]
    node = obj["spec"]["predictor"][path[2]]
    detail = ""
    if node.get("storageUri") != live_uri:
        detail = (
            f"kept the served storageUri {live_uri} (the tree says {node.get('storageUri')}; deploy owns it)"
        )
        node["storageUri"] = live_uri
    served = (live["metadata"].get("annotations") or {}).get(MODEL_VERSION_ANNOTATION)
    if served is not None:
        obj["metadata"].setdefault("annotations", {})[MODEL_VERSION_ANNOTATION] = served
    return detail


def _one_line(err: RetrainError) -> str:
    return " | ".join(line.strip() for line in str(err).splitlines() if line.strip())
