"""Pure builders, one module per group of manifests: `build(values, ...) -> list[dict]` (hera-style).

Nothing here reads files or the clock: the same catalog and values always give the same documents, in the
same order, which is what the golden-file tests hold on to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PART_OF = "retrain"
MANAGED_BY = "retrain-cluster-render"

# The ServiceAccounts, one per kind of caller, each with only the verbs it needs (see rbac.py).
SA_PIPELINE = "retrain-pipeline"  # the TaskRun pods of the pipelines
SA_TRIGGERS = "retrain-triggers"  # the EventListeners
SA_CRON = "retrain-cron"  # the CronJobs that start PipelineRuns

EVENTS_LISTENER = "retrain-events"  # drift alerts and manual requests (in-cluster only)
GITHUB_LISTENER = "retrain-github"  # GitHub pushes (the one to expose with a Route)

Doc = dict[str, Any]


def labels(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": MANAGED_BY, **(extra or {})}


def metadata(
    name: str,
    namespace: str | None,
    *,
    extra_labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Doc:
    """ObjectMeta in the usual key order; `namespace=None` for cluster-scoped objects."""
    meta: Doc = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = labels(extra_labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def document(api_version: str, kind: str, meta: Doc, **body: Any) -> Doc:
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **body}
