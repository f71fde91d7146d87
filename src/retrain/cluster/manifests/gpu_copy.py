"""A GPU task on its own volume: GPU nodes that cannot mount the model-storage volume (CephFS on the
platform) train on a second claim, with a copy to it before training and a copy back after.

The copy to the GPU volume mirrors the one model's registry directory (under the registry lock, so the
snapshot is consistent). The GPU task registers its candidate there, exactly as it would on model-storage.
The copy back moves only that new version directory into model-storage (as a `.tmp-` scratch entry, then one
rename, under the lock) and appends the audit events the training wrote; it never touches the aliases, so a
promotion or rollback that happened meanwhile stands. If model-storage gained the same version number in the
meantime, it fails rather than overwrite it. Every other task keeps using model-storage.
"""

from __future__ import annotations

import copy
import json

from retrain.cluster.manifests import Doc

GPU_WORKSPACE = "gpu-storage"
REGISTRY_WORKSPACE = "model-storage"
COPY_TO = "copy-to-gpu-storage"
COPY_BACK = "copy-from-gpu-storage"
LOCK_WAIT_S = 120

_COPY_TO_SCRIPT = f"""\
#!/bin/sh
set -eu
src="$(workspaces.{REGISTRY_WORKSPACE}.path)/$(params.model-name)"
dst="$(workspaces.{GPU_WORKSPACE}.path)/$(params.model-name)"
# The GPU volume holds a fresh mirror of this one model for every run.
rm -rf "$dst"
mkdir -p "$dst"
before=0
if [ -d "$src" ]; then
  # Registry writers hold this lock, so the copy is a consistent snapshot.
  flock -w {LOCK_WAIT_S} "$src/.lock" cp -R "$src/." "$dst/"
  if [ -f "$dst/events.jsonl" ]; then before=$(wc -l < "$dst/events.jsonl" | tr -d ' '); fi
fi
printf '%s' "$before" > "$(results.events-before.path)"
echo "$(params.model-name): registry copied to the GPU volume ($before audit events)"
"""

_COPY_BACK_SCRIPT = f"""\
#!/bin/sh
set -eu
model="$(params.model-name)"
version="$(params.model-version)"
src="$(workspaces.{GPU_WORKSPACE}.path)/$model"
dst="$(workspaces.{REGISTRY_WORKSPACE}.path)/$model"
mkdir -p "$dst/versions"
# Under the registry lock no other writer runs and no reader sees a half-copied version.
exec 9>>"$dst/.lock"
flock -w {LOCK_WAIT_S} 9
if [ -e "$dst/versions/$version" ]; then
  echo "$model: version $version already exists on {REGISTRY_WORKSPACE} (registered there while this run" \\
    "trained on the GPU volume); not overwritten, start the run again" >&2
  exit 1
fi
tmp="$dst/versions/.tmp-gpu-copy-$version"
rm -rf "$tmp"
cp -R "$src/versions/$version" "$tmp"
mv "$tmp" "$dst/versions/$version"
skip="$(params.events-before)"
tail -n "+$((skip + 1))" "$src/events.jsonl" >> "$dst/events.jsonl"
echo "$model: version $version copied back to {REGISTRY_WORKSPACE}"
"""


def _copy_task(
    name: str, description: str, script: str, *, image: str, params: list[Doc], results: list[Doc]
) -> Doc:
    spec: Doc = {
        "description": description,
        "params": [{"name": p["name"]} for p in params],
        "workspaces": [{"name": REGISTRY_WORKSPACE}, {"name": GPU_WORKSPACE}],
    }
    if results:
        spec["results"] = results
    spec["steps"] = [
        {
            "name": "copy",
            "image": image,
            "computeResources": {
                "requests": {"cpu": "100m", "memory": "128Mi"},
                "limits": {"memory": "512Mi"},
            },
            "script": script,
        }
    ]
    return {
        "name": name,
        "params": params,
        "workspaces": [
            {"name": REGISTRY_WORKSPACE, "workspace": REGISTRY_WORKSPACE},
            {"name": GPU_WORKSPACE, "workspace": GPU_WORKSPACE},
        ],
        "taskSpec": spec,
    }


def _depends_on(task: Doc, name: str) -> bool:
    """The task runs after `name` (runAfter) or uses one of its results or its status."""
    return name in task.get("runAfter", []) or f"$(tasks.{name}." in json.dumps(task)


def with_gpu_volume(pipeline: Doc, gpu_tasks: list[str], *, image: str) -> Doc:
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
    copy_to = _copy_task(
        COPY_TO,
        "Mirror the model's registry directory onto the GPU volume.",
        _COPY_TO_SCRIPT,
        image=image,
        params=model_param,
        results=[
            {"name": "events-before", "description": "Audit events the registry held when it was copied."}
        ],
    )
    copy_back = _copy_task(
        COPY_BACK,
        "Move the version the GPU task registered back into model-storage, with its audit events.",
        _COPY_BACK_SCRIPT,
        image=image,
        params=[
            *model_param,
            {"name": "model-version", "value": f"$(tasks.{train}.results.model-version)"},
            {"name": "events-before", "value": f"$(tasks.{COPY_TO}.results.events-before)"},
        ],
        results=[],
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
