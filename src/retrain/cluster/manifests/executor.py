"""The training executor switch (`training.executor`): who runs the notebook of the train Tasks.

papermill (the default) leaves the catalog's train steps alone: the step runs the notebook itself. With
notebook-validation-job the train step becomes a small one that runs `retrain train --executor
notebook-validation-job`: it creates a NotebookValidationJob (Jupyter Notebook Validator Operator) that
clones the notebook from `training.git`, waits for it and registers what it wrote as a candidate version,
exactly as the papermill step does (`retrain.cluster.nbjob`). What the notebook needs moves to the job's pod:
the step's CPU or GPU resources, the GPU node selector and tolerations (GPU Task), the model-storage claim
(the GPU claim when the GPU nodes have their own), the Prometheus URL, token and CA. The step keeps no GPU:
a step that holds one while the job's pod waits for one could never schedule on a one-GPU node.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from retrain.cluster.manifests import Doc
from retrain.cluster.manifests.prometheus_access import prometheus_access
from retrain.cluster.values import SiteValues

NVJ = "notebook-validation-job"
TRAIN_VERB = "retrain train"
GRACE_S = 300 + 60  # nbjob's wait beyond the job's own timeout, and a minute to register the version
DEFAULT_TASK_TIMEOUT_S = 3600  # Tekton's default for a pipeline task without `timeout`
WAITING_STEP = {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}}

# The notebook path is the notebook's path in the git repository (the param's "inside the source
# workspace" is the same path: that workspace is a checkout of the repository).
SCRIPT = """\
#!/bin/sh
set -eu
set -- "$(params.model-name)" --hours "$(params.training-hours)" --data-source "$(params.data-source)"
[ -n "$NOTEBOOK_PATH" ] && set -- "$@" --notebook-path "$NOTEBOOK_PATH"
[ -n "$PROMETHEUS_URL_PARAM" ] && set -- "$@" --prometheus-url "$PROMETHEUS_URL_PARAM"
exec retrain train "$@"{gpu} --executor notebook-validation-job --timeout {timeout} \\
  --registry "$(workspaces.model-storage.path)" \\
  --run "$(context.pipelineRun.name)" \\
  --results-dir "$(dirname "$(results.model-version.path)")"
"""


def _seconds(duration: str) -> int:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"([0-9.]+)(ms|s|m|h)", duration)
    return int(sum(float(n) * units[u] for n, u in parts)) or DEFAULT_TASK_TIMEOUT_S


def task_timeouts(pipelines: Iterable[Doc]) -> dict[str, int]:
    """Task name -> the shortest pipeline-task timeout (seconds) of the pipeline tasks that reference it."""
    out: dict[str, int] = {}
    for doc in pipelines:
        if doc.get("kind") != "Pipeline":
            continue
        for task in [*doc["spec"].get("tasks", []), *doc["spec"].get("finally", [])]:
            ref = (task.get("taskRef") or {}).get("name")
            if ref:
                seconds = _seconds(str(task.get("timeout") or ""))
                out[ref] = min(out.get(ref, seconds), seconds)
    return out


def trains(task_spec: Doc) -> bool:
    return any(TRAIN_VERB in str(step.get("script", "")) for step in task_spec.get("steps", []))


def _prometheus(values: SiteValues) -> tuple[list[Doc], list[Doc], list[Doc]]:
    prom = values.prometheus
    access = prometheus_access(values)
    url: list[Doc] = [{"name": "PROMETHEUS_URL", "value": prom.url}] if prom.url else []
    return [*url, *access.env], access.volumes, access.mounts


def pod_config(values: SiteValues, resources: Doc, *, gpu: bool) -> Doc:
    """The podConfig additions for the job (`retrain train --job-pod-config`)."""
    env, volumes, mounts = _prometheus(values)
    pod: Doc = {"env": env, "volumes": volumes, "volumeMounts": mounts}
    if resources:
        pod["resources"] = {k: {q: str(v) for q, v in section.items()} for k, section in resources.items()}
    if gpu and values.gpu.node_selector:
        pod["nodeSelector"] = dict(values.gpu.node_selector)
    if gpu and values.gpu.tolerations:
        pod["tolerations"] = [t.model_dump(by_alias=True, exclude_none=True) for t in values.gpu.tolerations]
    return {k: v for k, v in pod.items() if v}


def use_jobs(task_spec: Doc, values: SiteValues, *, gpu: bool, task_timeout_s: int | None) -> None:
    """Edit a train task spec in place so that its notebook runs as a NotebookValidationJob."""
    storage = values.storage
    claim = storage.model_storage.claim_name
    if gpu and storage.gpu_storage is not None:
        claim = storage.gpu_storage.claim_name  # the GPU pipeline binds model-storage to the GPU claim
    git = values.training.git
    job_timeout = max(60, (task_timeout_s or DEFAULT_TASK_TIMEOUT_S) - GRACE_S)
    for step in task_spec.get("steps", []):
        if TRAIN_VERB not in str(step.get("script", "")):
            continue
        resources: Any = step.get("computeResources") or {}
        env: list[Doc] = [
            {"name": "RETRAIN_NOTEBOOK_GIT_URL", "value": git.url},
            {"name": "RETRAIN_NOTEBOOK_GIT_REF", "value": git.ref},
            {"name": "RETRAIN_NOTEBOOK_IMAGE", "value": values.image},
            {"name": "RETRAIN_MODEL_STORAGE_CLAIM", "value": claim},
            {
                "name": "RETRAIN_NOTEBOOK_POD_CONFIG",
                "value": json.dumps(pod_config(values, resources, gpu=gpu), sort_keys=True),
            },
        ]
        if git.credentials_secret:
            env.append({"name": "RETRAIN_NOTEBOOK_GIT_SECRET", "value": git.credentials_secret})
        step["env"] = [*step.get("env", []), *env]
        step["computeResources"] = {k: dict(v) for k, v in WAITING_STEP.items()}
        step["script"] = SCRIPT.format(gpu=" --gpu" if gpu else "", timeout=job_timeout)
