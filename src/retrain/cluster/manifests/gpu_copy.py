"""A GPU task on its own volume: GPU nodes that cannot mount the model-storage volume (CephFS on the
platform) train on a second claim, with a copy to it before training and a copy back after.

The copy to the GPU volume (the catalog's `copy-model-to-gpu-storage` Task) mirrors the one model's
registry directory under the registry lock, so the snapshot is consistent. The GPU task registers its
candidate there, exactly as it would on model-storage. The copy back (`copy-gpu-model-to-shared`) moves only
that new version directory into model-storage (as a `.tmp-` scratch entry, then one rename, under the lock)
and appends the audit events the training wrote; it never touches the aliases, so a promotion or rollback
that happened meanwhile stands. If model-storage gained the same version number in the meantime, it fails
rather than overwrite it. Every other task keeps using model-storage. The scripts live in the Task files;
this module only wires the two copy tasks into the pipeline.
"""

from __future__ import annotations

import copy
import json

from retrain.cluster.manifests import Doc

GPU_WORKSPACE = "gpu-storage"
REGISTRY_WORKSPACE = "model-storage"
COPY_TO = "copy-to-gpu-storage"
COPY_BACK = "copy-from-gpu-storage"

# The catalog's Tasks (catalog/tasks/) that do the two copies.
COPY_TO_TASK = "copy-model-to-gpu-storage"
COPY_BACK_TASK = "copy-gpu-model-to-shared"


def _copy_task(name: str, task: str, params: list[Doc]) -> Doc:
    return {
        "name": name,
        "taskRef": {"name": task},
        "params": params,
        "workspaces": [
            {"name": REGISTRY_WORKSPACE, "workspace": REGISTRY_WORKSPACE},
            {"name": GPU_WORKSPACE, "workspace": GPU_WORKSPACE},
        ],
    }


def _depends_on(task: Doc, name: str) -> bool:
    """The task runs after `name` (runAfter) or uses one of its results or its status."""
    return name in task.get("runAfter", []) or f"$(tasks.{name}." in json.dumps(task)


def with_gpu_volume(pipeline: Doc, gpu_tasks: list[str]) -> Doc:
    """The pipeline with its GPU task on the GPU volume, between the two copy tasks."""
    if len(gpu_tasks) != 1:
        raise ValueError(f"expected one GPU task in {pipeline['metadata']['name']}, found {gpu_tasks}")
    train = gpu_tasks[0]
    doc = copy.deepcopy(pipeline)
    spec = doc["spec"]
    spec["workspaces"] = [
        *spec.get("workspaces", []),
        {
            "name": GPU_WORKSPACE,
            "description": "A claim GPU nodes can mount; the GPU task trains on a copy of the registry there",
        },
    ]
    model_param = [{"name": "model-name", "value": "$(params.model-name)"}]
    copy_to = _copy_task(COPY_TO, COPY_TO_TASK, model_param)
    copy_back = _copy_task(
        COPY_BACK,
        COPY_BACK_TASK,
        [
            *model_param,
            {"name": "model-version", "value": f"$(tasks.{train}.results.model-version)"},
            {"name": "events-before", "value": f"$(tasks.{COPY_TO}.results.events-before)"},
        ],
    )
    copy_back["runAfter"] = [train]
    tasks: list[Doc] = [copy_to]
    for task in spec["tasks"]:
        if task["name"] == train:
            task["runAfter"] = [*task.get("runAfter", []), COPY_TO]
            for binding in task.get("workspaces", []):
                if binding.get("workspace") == REGISTRY_WORKSPACE:
                    binding["workspace"] = GPU_WORKSPACE
            tasks.extend([task, copy_back])
            continue
        if _depends_on(task, train):
            task["runAfter"] = [*task.get("runAfter", []), COPY_BACK]
        tasks.append(task)
    spec["tasks"] = tasks
    return doc
