"""Checks across documents: what one object names must exist, with the shape the other expects.

A RoleBinding's Role and ServiceAccount, a PipelineRun's Pipeline, params, workspaces, claims and task
names, a TriggerTemplate's `$(tt.params.*)`, an EventListener's bindings and template (and that the bindings
of a trigger give the template exactly the params it needs), a CronJob's ConfigMap, an InferenceService's
claim. A real cluster accepts most of these mistakes and fails later, at run time; here they fail at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from retrain.errors import InvalidInput
from retrain.tekton.loader import SourceMap, format_field_path

FieldPath = tuple[str | int, ...]
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "Kustomization"}
_TT_PARAM = re.compile(r"\$\(tt\.params\.([A-Za-z0-9_.-]+)\)")
_INTERCEPTOR_PARAMS = {
    "github": {"secretRef", "eventTypes", "addChangedFiles", "githubOwners"},
    "cel": {"filter", "overlays"},
}


@dataclass(frozen=True)
class Located:
    """A document, or an object embedded in one (`prefix` is its path inside the file's document)."""

    data: dict[str, Any]
    source: SourceMap
    prefix: FieldPath = ()

    @property
    def kind(self) -> str:
        return str(self.data.get("kind"))

    @property
    def name(self) -> str:
        meta = self.data.get("metadata") or {}
        return str(meta.get("name") or meta.get("generateName") or "")

    def problem(self, message: str, *path: str | int, hint: str | None = None) -> InvalidInput:
        where = self.source.location(format_field_path((*self.prefix, *path)))
        return InvalidInput(message, location=where, hint=hint)


class Tree:
    def __init__(self, docs: list[Located], runs: list[Located]) -> None:
        self.docs = docs
        self.runs = runs  # PipelineRuns embedded in TriggerTemplates and CronJob ConfigMaps

    def named(self, kind: str) -> dict[str, Located]:
        return {d.name: d for d in self.docs if d.kind == kind}


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _unique_and_namespaced(tree: Tree) -> Iterator[InvalidInput]:
    seen: dict[tuple[str, str], Located] = {}
    namespaces: dict[str, Located] = {}
    for doc in tree.docs:
        key = (doc.kind, doc.name)
        if key in seen:
            first = seen[key].source.location("metadata.name")
            yield doc.problem(
                f"{doc.kind} {doc.name!r} is defined twice (first at {first})", "metadata", "name"
            )
        seen.setdefault(key, doc)
        if doc.kind in CLUSTER_SCOPED:
            continue
        namespace = (doc.data.get("metadata") or {}).get("namespace")
        if not namespace:
            yield doc.problem(f"{doc.kind} {doc.name!r} has no namespace", "metadata")
        else:
            namespaces.setdefault(namespace, doc)
    if len(namespaces) > 1:
        names = ", ".join(sorted(namespaces))
        for doc in list(namespaces.values())[1:]:
            yield doc.problem(f"the documents use several namespaces ({names})", "metadata", "namespace")


def _rbac(tree: Tree) -> Iterator[InvalidInput]:
    roles, accounts = tree.named("Role"), tree.named("ServiceAccount")
    cluster_roles = tree.named("ClusterRole")
    for kind in ("RoleBinding", "ClusterRoleBinding"):
        for binding in tree.named(kind).values():
            ref = binding.data.get("roleRef") or {}
            if ref.get("kind") == "Role" and ref.get("name") not in roles:
                yield binding.problem(f"Role {ref.get('name')!r} is not in the tree", "roleRef", "name")
            builtin = str(ref.get("name")).startswith("system:")
            if ref.get("kind") == "ClusterRole" and ref.get("name") not in cluster_roles and not builtin:
                yield binding.problem(
                    f"ClusterRole {ref.get('name')!r} is neither in the tree nor a built-in (system:...)",
                    "roleRef",
                    "name",
                )
            for i, subject in enumerate(_listed(binding.data.get("subjects"))):
                if subject.get("kind") == "ServiceAccount" and subject.get("name") not in accounts:
                    yield binding.problem(
                        f"ServiceAccount {subject.get('name')!r} is not in the tree", "subjects", i
                    )


def _pipelinerun(run: Located, tree: Tree) -> Iterator[InvalidInput]:
    spec = run.data.get("spec") or {}
    name = (spec.get("pipelineRef") or {}).get("name")
    pipeline = tree.named("Pipeline").get(str(name))
    if pipeline is None:
        yield run.problem(f"Pipeline {name!r} is not in the tree", "spec", "pipelineRef", "name")
        return
    pspec = pipeline.data.get("spec") or {}
    declared = {p["name"]: p for p in _listed(pspec.get("params"))}
    given = [p.get("name") for p in _listed(spec.get("params"))]
    for i, param in enumerate(given):
        if param not in declared:
            yield run.problem(f"Pipeline {name} has no param {param!r}", "spec", "params", i, "name")
    for param, decl in declared.items():
        if "default" not in decl and param not in given:
            yield run.problem(
                f"param {param!r} of Pipeline {name} has no default and is not given", "spec", "params"
            )
    workspaces = {w["name"]: w for w in _listed(pspec.get("workspaces"))}
    bound = {}
    claims = tree.named("PersistentVolumeClaim")
    for i, binding in enumerate(_listed(spec.get("workspaces"))):
        ws = binding.get("name")
        bound[ws] = binding
        if ws not in workspaces:
            yield run.problem(f"Pipeline {name} has no workspace {ws!r}", "spec", "workspaces", i, "name")
            continue
        claim = (binding.get("persistentVolumeClaim") or {}).get("claimName")
        if claim is not None and claim not in claims and not workspaces[ws].get("optional"):
            yield run.problem(
                f"claim {claim!r} is not rendered (workspace {ws} is required)",
                "spec",
                "workspaces",
                i,
                "persistentVolumeClaim",
                "claimName",
            )
    for ws, decl in workspaces.items():
        if not decl.get("optional") and ws not in bound:
            yield run.problem(
                f"required workspace {ws!r} of Pipeline {name} is not bound", "spec", "workspaces"
            )
    tasks = {t.get("name") for section in ("tasks", "finally") for t in _listed(pspec.get(section))}
    for i, trs in enumerate(_listed(spec.get("taskRunSpecs"))):
        if trs.get("pipelineTaskName") not in tasks:
            yield run.problem(
                f"Pipeline {name} has no task {trs.get('pipelineTaskName')!r}",
                "spec",
                "taskRunSpecs",
                i,
                "pipelineTaskName",
            )
    account = (spec.get("taskRunTemplate") or {}).get("serviceAccountName")
    if account is not None and account not in tree.named("ServiceAccount"):
        yield run.problem(
            f"ServiceAccount {account!r} is not in the tree", "spec", "taskRunTemplate", "serviceAccountName"
        )


def _strings(value: Any, path: FieldPath = ()) -> Iterator[tuple[FieldPath, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, (*path, i))


def _templates(tree: Tree) -> Iterator[InvalidInput]:
    for template in tree.named("TriggerTemplate").values():
        spec = template.data.get("spec") or {}
        declared = {p.get("name") for p in _listed(spec.get("params"))}
        for path, text in _strings(spec.get("resourcetemplates"), ("spec", "resourcetemplates")):
            for param in _TT_PARAM.findall(text):
                if param not in declared:
                    yield template.problem(
                        f"$(tt.params.{param}) is not a param of this TriggerTemplate", *path
                    )


def _listeners(tree: Tree) -> Iterator[InvalidInput]:
    bindings, templates = tree.named("TriggerBinding"), tree.named("TriggerTemplate")
    for listener in tree.named("EventListener").values():
        spec = listener.data.get("spec") or {}
        account = spec.get("serviceAccountName")
        if account not in tree.named("ServiceAccount"):
            yield listener.problem(
                f"ServiceAccount {account!r} is not in the tree", "spec", "serviceAccountName"
            )
        for t, trigger in enumerate(_listed(spec.get("triggers"))):
            at = ("spec", "triggers", t)
            for i, icpt in enumerate(_listed(trigger.get("interceptors"))):
                known = _INTERCEPTOR_PARAMS.get(str((icpt.get("ref") or {}).get("name")))
                for j, param in enumerate(_listed(icpt.get("params"))):
                    if known is not None and param.get("name") not in known:
                        yield listener.problem(
                            f"the {icpt['ref']['name']} interceptor has no param {param.get('name')!r}",
                            *at,
                            "interceptors",
                            i,
                            "params",
                            j,
                            "name",
                            hint="known: " + ", ".join(sorted(known)),
                        )
            given: dict[str, str] = {}
            for b, ref in enumerate(_listed(trigger.get("bindings"))):
                binding = bindings.get(str(ref.get("ref")))
                if binding is None:
                    yield listener.problem(
                        f"TriggerBinding {ref.get('ref')!r} is not in the tree", *at, "bindings", b
                    )
                    continue
                for param in _listed((binding.data.get("spec") or {}).get("params")):
                    if param.get("name") in given:
                        yield listener.problem(
                            f"param {param.get('name')!r} comes from two bindings"
                            f" ({given[param['name']]}, {binding.name})",
                            *at,
                            "bindings",
                            b,
                        )
                    given[str(param.get("name"))] = binding.name
            template = templates.get(str((trigger.get("template") or {}).get("ref")))
            if template is None:
                yield listener.problem("the trigger's template is not in the tree", *at, "template")
                continue
            tparams = {p.get("name"): p for p in _listed((template.data.get("spec") or {}).get("params"))}
            for param in sorted(set(given) - set(tparams)):
                yield listener.problem(
                    f"TriggerTemplate {template.name} has no param {param!r}", *at, "bindings"
                )
            for param in sorted(p for p, decl in tparams.items() if "default" not in decl and p not in given):
                yield listener.problem(
                    f"no binding gives param {param!r} of {template.name}", *at, "bindings"
                )


def _workloads(tree: Tree) -> Iterator[InvalidInput]:
    configmaps, claims = tree.named("ConfigMap"), tree.named("PersistentVolumeClaim")
    for cron in tree.named("CronJob").values():
        pod = (((cron.data.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}).get(
            "template"
        ) or {}
        at = ("spec", "jobTemplate", "spec", "template", "spec")
        pspec = pod.get("spec") or {}
        if pspec.get("serviceAccountName") not in tree.named("ServiceAccount"):
            yield cron.problem(
                f"ServiceAccount {pspec.get('serviceAccountName')!r} is not in the tree",
                *at,
                "serviceAccountName",
            )
        for i, volume in enumerate(_listed(pspec.get("volumes"))):
            name = (volume.get("configMap") or {}).get("name")
            if name is not None and name not in configmaps:
                yield cron.problem(
                    f"ConfigMap {name!r} is not in the tree", *at, "volumes", i, "configMap", "name"
                )
    for isvc in tree.named("InferenceService").values():
        predictor = (isvc.data.get("spec") or {}).get("predictor") or {}
        uri = str((predictor.get("model") or {}).get("storageUri", ""))
        claim = uri.removeprefix("pvc://").split("/", 1)[0]
        if uri.startswith("pvc://") and claim not in claims:
            yield isvc.problem(f"claim {claim!r} is not rendered", "spec", "predictor", "model", "storageUri")
        for i, volume in enumerate(_listed(predictor.get("volumes"))):
            mounted = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if mounted is not None and mounted not in claims:
                yield isvc.problem(f"claim {mounted!r} is not rendered", "spec", "predictor", "volumes", i)


def cross_check(tree: Tree) -> list[InvalidInput]:
    from retrain.cluster.taskrefs import task_refs

    problems = [
        *task_refs(tree),
        *_unique_and_namespaced(tree),
        *_rbac(tree),
        *_templates(tree),
        *_listeners(tree),
        *_workloads(tree),
    ]
    for run in tree.runs:
        problems.extend(_pipelinerun(run, tree))
    return problems
