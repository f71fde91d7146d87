"""`retrain cluster start` and `retrain trigger --cluster`: the site's PipelineRun, planned, then created.

`plan_site_run` builds the run from the site (its values file or the defaults; cluster/site_runs.py says
what the run gets) without touching a cluster, so `--dry-run` needs no connection. `plan_on_cluster`
connects and plans for the namespace the run goes to; `start_on_cluster` checks that the cluster holds the
Pipeline and that the params fit the Pipeline it holds, and creates the run. The namespace comes from
--namespace, else the values file, else the kubeconfig context's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retrain.app.requests import TrainingRequest
    from retrain.cluster.client import Cluster, ClusterSettings


@dataclass(frozen=True)
class SiteRunRequest:
    pipeline: str | None  # None: the training pipeline of the model (`model-name`), GPU or not, per the site
    params: Mapping[str, str] = field(default_factory=dict)
    values_file: Path | None = None  # the file `retrain cluster render -f` takes; None: the defaults
    namespace: str | None = None  # --namespace: over the values file's
    claim: str | None = None
    service_account: str | None = None
    trigger: str = "manual"
    generate_name: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SitePlan:
    """The PipelineRun to create (`body`) in `namespace`."""

    request: SiteRunRequest
    namespace: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Created:
    name: str
    namespace: str
    host: str


@dataclass(frozen=True)
class ClusterPlan:
    """A plan for the connected cluster; `start_on_cluster` creates it."""

    plan: SitePlan
    cluster: Cluster
    host: str


def plan_site_run(req: SiteRunRequest, *, default_namespace: str | None = None) -> SitePlan:
    """The run the site would get. The namespace: --namespace, the values file's, else `default_namespace`
    (the context's, once connected); InvalidInput when none is known (a dry run without one)."""
    from retrain.cluster.manifests.runs import TRAINING_PIPELINES
    from retrain.cluster.site_runs import SiteRun, site_model, site_pipelinerun
    from retrain.cluster.values import load_values

    values = load_values(req.values_file, namespace=req.namespace, require_namespace=False)
    if values.namespace is None:
        values = load_values(req.values_file, namespace=default_namespace)
    pipeline = req.pipeline
    if pipeline is None:  # the model's own training pipeline, as the site renders it
        pipeline = TRAINING_PIPELINES[site_model(values, req.params["model-name"]).gpu]
    run = SiteRun(
        pipeline=pipeline,
        params=req.params,
        trigger=req.trigger,
        generate_name=req.generate_name,
        claim=req.claim,
        service_account=req.service_account,
        labels=req.labels,
    )
    return SitePlan(req, values.ns, site_pipelinerun(values, run))


def plan_on_cluster(req: SiteRunRequest, settings: ClusterSettings) -> ClusterPlan:
    """Connect (nothing is sent yet) and plan the run for the namespace it goes to."""
    from retrain.cluster.client import connect

    cluster = connect(settings)
    return ClusterPlan(plan_site_run(req, default_namespace=cluster.namespace), cluster, cluster.host)


def start_on_cluster(cplan: ClusterPlan) -> Created:
    """Check the Pipeline the cluster holds and create the run; NotFound with the fix when absent."""
    from retrain.cluster.client import PIPELINERUN
    from retrain.cluster.pipelineruns import PIPELINE, check_params
    from retrain.errors import Location, NotFound

    plan = cplan.plan
    body = plan.body
    pipeline = body["spec"]["pipelineRef"]["name"]
    with cplan.cluster as cluster:
        try:
            held = cluster.get(PIPELINE, pipeline, plan.namespace)
        except NotFound:
            raise NotFound(
                f"Pipeline {pipeline!r} is not in namespace {plan.namespace} on {cplan.host}",
                location=Location(field="PIPELINE"),
                hint="apply the rendered tree first (retrain cluster apply DIR), or pass --namespace",
            ) from None
        declared = (held.get("spec") or {}).get("params") or []
        given = {p["name"]: p["value"] for p in body["spec"]["params"]}
        check_params(pipeline, given, declared)  # the Pipeline the cluster holds is the one that runs
        created = cluster.create(PIPELINERUN, body, plan.namespace)
    return Created(str(created["metadata"]["name"]), plan.namespace, cplan.host)


def training_site_request(
    req: TrainingRequest,
    *,
    values_file: Path | None,
    namespace: str | None,
    claim: str | None,
    explicit: Mapping[str, bool],
) -> SiteRunRequest:
    """`retrain trigger --cluster`: the request as a site run of its pipeline (deploy target kserve).

    The site gives every param the command line leaves out; `explicit` says which request fields the
    user set (a built-in default such as 168 hours must not hide the site's own training window). The
    request is checked as the local trigger checks it, except that a model the site lists has its notebook
    and InferenceService from the site, and the notebook is a path in the cluster's checkout (not checked
    on this machine)."""
    from dataclasses import replace

    from retrain.app.requests import check_request
    from retrain.cluster.values import load_values

    site = load_values(values_file, namespace=namespace, require_namespace=False)
    listed = next((m for m in site.models if m.name == req.model), None)
    if listed is not None:
        check_request(
            replace(
                req,
                notebook_path=req.notebook_path or listed.notebook or "(the site's)",
                inference_service=req.inference_service or listed.service,
            )
        )
    else:
        check_request(req)
    params: dict[str, str] = {"model-name": req.model}
    if explicit.get("training_hours"):
        params["training-hours"] = req.training_hours
    if explicit.get("data_source"):
        params["data-source"] = req.data_source
    if req.notebook_path:
        params["notebook-path"] = req.notebook_path
    if req.inference_service:
        params["inference-service-name"] = req.inference_service
    if not req.health_check:
        params["health-check-enabled"] = "false"
    if explicit.get("verify_timeout"):
        params["verify-timeout"] = f"{req.verify_timeout_s:g}"
    if req.prometheus_url:
        params["prometheus-url"] = req.prometheus_url
    return SiteRunRequest(
        pipeline=None if req.gpu is None else req.pipeline,
        params=params,
        values_file=values_file,
        namespace=namespace,
        claim=claim,
        trigger=req.trigger,
        labels=dict(req.labels),
    )
