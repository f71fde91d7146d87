"""`retrain trigger --cluster`: the request's PipelineRun (deploy target kserve), created on a cluster."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retrain.app.requests import TrainingRequest
    from retrain.cluster.client import Cluster


@dataclass(frozen=True)
class ClusterPlan:
    """What would be created, and where; `start_on_cluster` creates it."""

    request: TrainingRequest
    cluster: Cluster
    host: str
    namespace: str
    claim: str
    body: dict[str, Any]


def plan_on_cluster(req: TrainingRequest, *, claim: str, namespace: str | None) -> ClusterPlan:
    """Connect, and build the PipelineRun (deploy target kserve, the registry on the `claim` PVC)."""
    from retrain.app.requests import pipelinerun_for
    from retrain.catalog import builtin_catalog
    from retrain.cluster.client import ClusterSettings, connect

    req = replace(req, deploy_target="kserve")
    run = pipelinerun_for(req, builtin_catalog().pipeline(req.pipeline), registry_claim=claim)
    cluster = connect(ClusterSettings(namespace=namespace))
    body = run.model_dump(by_alias=True, exclude_none=True)
    return ClusterPlan(req, cluster, cluster.host, cluster.namespace, claim, body)


def start_on_cluster(plan: ClusterPlan) -> str:
    """Create the PipelineRun; NotFound with the fix when the Pipeline was never applied. Its name."""
    from retrain.cluster.client import PIPELINERUN
    from retrain.cluster.pipelineruns import PIPELINE
    from retrain.errors import NotFound

    with plan.cluster as cluster:
        try:
            cluster.get(PIPELINE, plan.request.pipeline)
        except NotFound:
            raise NotFound(
                f"Pipeline {plan.request.pipeline!r} is not in namespace {plan.namespace} on {plan.host}",
                hint="apply the rendered tree first (retrain cluster apply DIR)",
            ) from None
        created = cluster.create(PIPELINERUN, plan.body)
    return str(created["metadata"]["name"])
