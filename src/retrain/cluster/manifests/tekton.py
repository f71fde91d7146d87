"""The catalog's Tasks and Pipelines for one site (tekton.dev/v1): namespace, the site's step image, the
Prometheus token, the GPU requests, and (when the GPU nodes have their own volume) the copy tasks.

The pipelines reference the catalog's Tasks by taskRef, so the site's edits land on the Task objects (and on
any task spec a custom Pipeline still embeds).

Every change is made on dicts, never on text, and the result is still the YAML the local engine runs.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from functools import cache
from typing import Any

from retrain.cluster.manifests import Doc, executor, labels
from retrain.cluster.manifests.gpu_copy import with_gpu_volume
from retrain.cluster.manifests.prometheus_access import prometheus_access
from retrain.cluster.values import SiteValues

# The catalog's step image; every step using it runs the site's image instead.
CATALOG_IMAGE_REPOSITORY = "quay.io/retrain/retrain"
# A Pipeline cannot carry its own timeout in Tekton v1; runs copy it into spec.timeouts.pipeline.
TIMEOUT_ANNOTATION = "retrain.dev/pipeline-timeout"
# Steps that read Prometheus (training data, the gate's held-out rows) get the token.
_PROMETHEUS_VERBS = ("retrain train", "retrain check")
# Steps that change what an InferenceService serves learn the site's KServe mode from the environment.
_KSERVE_VERBS = ("retrain deploy", "retrain rollback")


def task_specs(doc: Doc) -> Iterator[tuple[str | None, Doc]]:
    """(pipeline task name or None for a Task, its spec) for every embedded or standalone task spec."""
    if doc["kind"] == "Task":
        yield None, doc["spec"]
        return
    spec = doc["spec"]
    for task in [*spec.get("tasks", []), *spec.get("finally", [])]:
        if "taskSpec" in task:
            yield task["name"], task["taskSpec"]


def requests_gpu(task_spec: Doc) -> bool:
    """A step asks for a GPU (`nvidia.com/gpu`, `amd.com/gpu`, ...) in its requests or limits."""
    for step in task_spec.get("steps", []):
        resources = step.get("computeResources") or {}
        for section in ("requests", "limits"):
            if any(str(key).endswith("/gpu") for key in resources.get(section, {})):
                return True
    return False


@cache
def _catalog_gpu_tasks() -> frozenset[str]:
    from retrain.cluster.render import catalog_documents

    return frozenset(_gpu_task_names(catalog_documents()))


def _gpu_task_names(docs: Sequence[Doc]) -> set[str]:
    return {d["metadata"]["name"] for d in docs if d.get("kind") == "Task" and requests_gpu(d["spec"])}


def gpu_tasks(pipeline: Doc, tasks: Sequence[Doc] | None = None) -> list[str]:
    """The pipeline's tasks that ask for a GPU: an embedded spec that does, or a taskRef to a Task that does
    (one of `tasks`; by default the built-in catalog's)."""
    gpu_refs = _gpu_task_names(tasks) if tasks is not None else _catalog_gpu_tasks()
    spec = pipeline["spec"]
    return [
        task["name"]
        for task in [*spec.get("tasks", []), *spec.get("finally", [])]
        if requests_gpu(task.get("taskSpec", {})) or task.get("taskRef", {}).get("name") in gpu_refs
    ]


def _site_image(image: Any, site_image: str) -> Any:
    if isinstance(image, str) and image.split("@")[0].rsplit(":", 1)[0] == CATALOG_IMAGE_REPOSITORY:
        return site_image
    return image


def _prometheus_wiring(values: SiteValues) -> tuple[list[Doc], list[Doc], list[Doc]]:
    """(volumes, env, volumeMounts) for steps that read Prometheus."""
    access = prometheus_access(values)
    return access.volumes, access.env, access.mounts


def _runs(task_spec: Doc, verbs: tuple[str, ...]) -> bool:
    return any(verb in str(step.get("script", "")) for step in task_spec.get("steps", []) for verb in verbs)


def _add_to_template(task_spec: Doc, env: list[Doc], mounts: list[Doc]) -> None:
    template = task_spec.setdefault("stepTemplate", {})
    if env:
        template["env"] = [*template.get("env", []), *env]
    if mounts:
        template["volumeMounts"] = [*template.get("volumeMounts", []), *mounts]


def _site_task_spec(task_spec: Doc, values: SiteValues, train_timeout_s: int | None = None) -> None:
    """Edit one task spec in place for the site (`train_timeout_s`: its pipeline task's timeout)."""
    for step in task_spec.get("steps", []):
        if "image" in step:
            step["image"] = _site_image(step["image"], values.image)
    gpu = values.gpu.resources
    if gpu is not None and requests_gpu(task_spec):
        wanted = {k: dict(v) for k, v in gpu.model_dump(by_alias=True).items() if v}
        for step in task_spec["steps"]:
            if requests_gpu({"steps": [step]}):
                step["computeResources"] = wanted
    if values.training.executor == executor.NVJ and executor.trains(task_spec):
        gpu_task = requests_gpu(task_spec)
        executor.use_jobs(task_spec, values, gpu=gpu_task, task_timeout_s=train_timeout_s)
    if values.kserve.restart_pods and _runs(task_spec, _KSERVE_VERBS):
        _add_to_template(task_spec, [{"name": "RETRAIN_KSERVE_RESTART_PODS", "value": "true"}], [])
    volumes, env, mounts = _prometheus_wiring(values)
    if not _runs(task_spec, _PROMETHEUS_VERBS) or not (volumes or env):
        return
    _add_to_template(task_spec, env, mounts)
    if volumes:
        task_spec["volumes"] = [*task_spec.get("volumes", []), *volumes]


def _site_metadata(meta: Doc, namespace: str) -> Doc:
    out: Doc = {"name": meta["name"], "namespace": namespace}
    out["labels"] = {**meta.get("labels", {}), **labels()}
    if meta.get("annotations"):
        out["annotations"] = dict(meta["annotations"])
    return out


def build(values: SiteValues, catalog: Sequence[Doc]) -> list[Doc]:
    """The catalog's Tasks, then its Pipelines, each sorted by name, rendered for the site."""
    wanted = [d for d in catalog if d.get("kind") in ("Task", "Pipeline")]
    ordered = sorted(wanted, key=lambda d: (d["kind"] != "Task", d["metadata"]["name"]))
    task_docs = [d for d in wanted if d["kind"] == "Task"]
    timeouts = executor.task_timeouts(wanted)
    out: list[Doc] = []
    for source in ordered:
        doc = copy.deepcopy(source)
        doc["metadata"] = _site_metadata(doc["metadata"], values.ns)
        for _, spec in task_specs(doc):
            own = timeouts.get(doc["metadata"]["name"]) if doc["kind"] == "Task" else None
            _site_task_spec(spec, values, own)
        if doc["kind"] == "Pipeline" and values.storage.gpu_storage is not None:
            tasks = gpu_tasks(doc, task_docs)
            if tasks:
                doc = with_gpu_volume(doc, tasks)
        out.append(doc)
    return out
