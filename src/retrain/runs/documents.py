"""Runs as Tekton shows them (`kubectl get pipelinerun NAME -o yaml`): the run object with its status, and
one document per TaskRun (its last try; earlier tries are in its `retriesStatus`)."""

from __future__ import annotations

from typing import Any

from retrain.runs.store import RunStore


def run_document(store: RunStore, name: str) -> dict[str, Any]:
    record = store.get_run(name)
    return {"apiVersion": "tekton.dev/v1", "kind": record.kind, **record.manifest, "status": record.status}


def taskrun_documents(store: RunStore, name: str) -> list[dict[str, Any]]:
    latest: dict[str, Any] = {}
    for tr in store.taskruns(name):
        if tr.name not in latest or tr.retry >= latest[tr.name].retry:
            latest[tr.name] = tr
    docs = []
    for tr in latest.values():
        labels = {"tekton.dev/pipelineRun": name}
        if tr.pipeline_task:
            labels["tekton.dev/pipelineTask"] = tr.pipeline_task
        docs.append(
            {
                "apiVersion": "tekton.dev/v1",
                # a pipeline task that runs a Pipeline records its child PipelineRun's status here
                "kind": "PipelineRun" if "pipelineSpec" in tr.status else "TaskRun",
                "metadata": {"name": tr.name, "labels": labels},
                "status": tr.status,
            }
        )
    return docs
