"""The PipelineRuns that triggers and schedules create (tekton.dev/v1), built in one place.

A run binds `model-storage` (and `gpu-storage`, and the optional `source` checkout) to the site's claims,
runs as the pipeline ServiceAccount, gets `spec.timeouts.pipeline` from the Pipeline's
`retrain.dev/pipeline-timeout` annotation, and sends its GPU task to the GPU nodes through
`taskRunSpecs[].podTemplate` (nodeSelector and tolerations), so the Pipeline itself stays node-agnostic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from retrain.cluster.manifests import SA_PIPELINE, Doc
from retrain.cluster.manifests.gpu_copy import GPU_WORKSPACE, REGISTRY_WORKSPACE
from retrain.cluster.manifests.tekton import TIMEOUT_ANNOTATION, gpu_tasks, requests_gpu
from retrain.cluster.values import ModelValues, SiteValues

TRAINING_PIPELINES = {False: "model-training-pipeline", True: "model-training-pipeline-gpu"}
HEALTH_CHECK_PIPELINE = "model-health-check-pipeline"
SOURCE_WORKSPACE = "source"


def serving_url(values: SiteValues, model: ModelValues) -> str:
    """KServe's in-cluster address of the predictor (RawDeployment and Serverless alike, port 80)."""
    return f"http://{model.service}-predictor.{values.ns}.svc.cluster.local"


def deploy_target(values: SiteValues, model: ModelValues) -> str:
    """Always `kserve`: for the sklearn predictor deploy points storageUri at the version directory and waits
    for the new revision; for the retrain predictor it promotes and tells the server at the InferenceService's
    URL to load. Either way verify then fails (and the pipeline rolls back) when the endpoint does not answer,
    which `local` would only warn about."""
    del values, model
    return "kserve"


def model_params(values: SiteValues, model: ModelValues) -> dict[str, str]:
    """The params a model always runs with (a TriggerBinding per model carries the same)."""
    return {
        "model-name": model.name,
        "notebook-path": model.notebook,
        "inference-service-name": model.service,
        "serving-url": serving_url(values, model),
        "deploy-target": deploy_target(values, model),
        "health-check-enabled": "true" if model.health_check else "false",
    }


def site_params(values: SiteValues) -> dict[str, str]:
    return {"prometheus-url": values.prometheus.url, "pushgateway-url": values.pushgateway_url}


def _workspaces(values: SiteValues, pipeline: Doc) -> list[Doc]:
    declared = {w["name"] for w in pipeline["spec"].get("workspaces", [])}
    claims = {REGISTRY_WORKSPACE: values.storage.model_storage.claim_name}
    if values.storage.gpu_storage is not None:
        claims[GPU_WORKSPACE] = values.storage.gpu_storage.claim_name
    out = [
        {"name": name, "persistentVolumeClaim": {"claimName": claim}}
        for name, claim in claims.items()
        if name in declared
    ]
    notebooks = values.storage.notebooks
    if notebooks is not None and SOURCE_WORKSPACE in declared:
        binding: Doc = {
            "name": SOURCE_WORKSPACE,
            "persistentVolumeClaim": {"claimName": notebooks.claim_name},
        }
        if notebooks.sub_path:
            binding["subPath"] = notebooks.sub_path
        out.append(binding)
    return out


def pipeline_gpu_tasks(pipeline: Doc, docs: Sequence[Doc]) -> list[str]:
    """The pipeline tasks that ask for a GPU: embedded task specs, and `taskRef`s to a Task in `docs`."""
    found = set(gpu_tasks(pipeline))
    tasks = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "Task"}
    for task in [*pipeline["spec"].get("tasks", []), *pipeline["spec"].get("finally", [])]:
        ref = (task.get("taskRef") or {}).get("name")
        if ref in tasks and requests_gpu(tasks[ref]["spec"]):
            found.add(task["name"])
    ordered = [t["name"] for t in [*pipeline["spec"].get("tasks", []), *pipeline["spec"].get("finally", [])]]
    return [name for name in ordered if name in found]


def _gpu_task_run_specs(values: SiteValues, pipeline: Doc, docs: Sequence[Doc]) -> list[Doc]:
    pod: Doc = {}
    if values.gpu.node_selector:
        pod["nodeSelector"] = dict(values.gpu.node_selector)
    if values.gpu.tolerations:
        pod["tolerations"] = [t.model_dump(by_alias=True, exclude_none=True) for t in values.gpu.tolerations]
    if not pod:
        return []
    return [{"pipelineTaskName": task, "podTemplate": pod} for task in pipeline_gpu_tasks(pipeline, docs)]


def pipelinerun(
    values: SiteValues,
    pipeline: Doc,
    params: Mapping[str, str],
    *,
    generate_name: str,
    run_labels: Mapping[str, str],
    annotations: Mapping[str, str] | None = None,
    docs: Sequence[Doc] = (),
) -> Doc:
    """A PipelineRun of the rendered `pipeline`; params the pipeline does not declare are left out.
    `docs`: the rendered Tasks and Pipelines, so that GPU tasks behind a `taskRef` are placed too."""
    declared = [p["name"] for p in pipeline["spec"].get("params", [])]
    meta: Doc = {
        "generateName": generate_name,
        "namespace": values.ns,
        "labels": {"app.kubernetes.io/part-of": "retrain", **run_labels},
    }
    if annotations:
        meta["annotations"] = dict(annotations)
    spec: dict[str, Any] = {
        "pipelineRef": {"name": pipeline["metadata"]["name"]},
        "params": [{"name": name, "value": params[name]} for name in declared if name in params],
        "workspaces": _workspaces(values, pipeline),
        "taskRunTemplate": {"serviceAccountName": SA_PIPELINE},
    }
    timeout = pipeline["metadata"].get("annotations", {}).get(TIMEOUT_ANNOTATION)
    if timeout:
        spec["timeouts"] = {"pipeline": timeout}
    specs = _gpu_task_run_specs(values, pipeline, docs)
    if specs:
        spec["taskRunSpecs"] = specs
    return {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "metadata": meta, "spec": spec}


def pipeline_named(pipelines: list[Doc], name: str) -> Doc:
    for doc in pipelines:
        if doc["kind"] == "Pipeline" and doc["metadata"]["name"] == name:
            return doc
    raise KeyError(f"the catalog has no Pipeline {name!r}")


def training_pipeline(pipelines: list[Doc], model: ModelValues) -> Doc:
    return pipeline_named(pipelines, TRAINING_PIPELINES[model.gpu])
