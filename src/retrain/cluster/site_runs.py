"""The PipelineRun `retrain cluster start` and `retrain trigger --cluster` create, built from the site.

The site is the one `retrain cluster render` renders: its values file (`--values`, the same file as
`cluster render -f`) or the defaults. A run gets exactly what a scheduled or triggered run of that site gets
(manifests/runs.py builds all of them): the pipeline ServiceAccount, the workspaces bound to the site's
claims (model-storage, the GPU claim, the notebooks checkout), the GPU task on the GPU nodes (podTemplate
nodeSelector and tolerations), the Pipeline's timeout, `deploy-target=kserve` and the InferenceService's
in-cluster URL, and the site's Prometheus and Pushgateway. `-p NAME=VALUE` overrides any param. Pure: no
cluster is needed to build it (`--dry-run` prints it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from retrain.cluster.manifests import Doc
from retrain.cluster.manifests.runs import model_params, pipeline_named, pipelinerun, site_params
from retrain.cluster.pipelineruns import check_params
from retrain.cluster.values import ModelValues, SiteValues
from retrain.errors import InvalidInput, Location, NotFound


@dataclass(frozen=True)
class SiteRun:
    """What to run: the pipeline, the param overrides (`-p`), and how the run is labelled."""

    pipeline: str
    params: Mapping[str, str] = field(default_factory=dict)
    trigger: str = "manual"
    generate_name: str | None = None  # None: "<model>-<trigger>-"
    claim: str | None = None  # overrides the model-storage claim
    service_account: str | None = None  # overrides the pipeline ServiceAccount
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


def rendered_pipelines(values: SiteValues) -> list[Doc]:
    """The site's Tasks and Pipelines, exactly as `retrain cluster render` writes them."""
    from retrain.cluster.manifests import tekton
    from retrain.cluster.render import catalog_documents

    return tekton.build(values, catalog_documents())


def site_model(values: SiteValues, name: str) -> ModelValues:
    """The site's model of that name; a model the site does not list gets the defaults (a custom one)."""
    for model in values.models:
        if model.name == name:
            return model
    try:
        return ModelValues(name=name)
    except ValidationError:
        raise InvalidInput(
            f"model name {name!r} is not a DNS-1123 label of at most 40 characters",
            location=Location(field="model-name"),
            hint="lower-case letters, digits and '-'",
        ) from None


def site_pipelinerun(values: SiteValues, run: SiteRun, docs: list[Doc] | None = None) -> dict[str, Any]:
    """The PipelineRun of `run.pipeline` for the site; InvalidInput for unknown or missing params."""
    docs = rendered_pipelines(values) if docs is None else docs
    try:
        pipeline = pipeline_named(docs, run.pipeline)
    except KeyError:
        names = sorted(d["metadata"]["name"] for d in docs if d["kind"] == "Pipeline")
        raise NotFound(
            f"Pipeline {run.pipeline!r} is not in the built-in catalog",
            location=Location(field="PIPELINE"),
            hint="the catalog's pipelines: " + ", ".join(names),
        ) from None
    declared: list[dict[str, Any]] = pipeline["spec"].get("params", [])
    declared_names = {p["name"] for p in declared}
    defaults: dict[str, str] = dict(site_params(values))
    model_name = run.params.get("model-name")
    model = None if model_name is None else site_model(values, model_name)
    if model is not None:
        defaults.update(model_params(values, model))
        defaults["training-hours"] = str(model.training_hours)
        defaults["data-source"] = model.data_source
    given = {**{k: v for k, v in defaults.items() if k in declared_names}, **run.params}
    check_params(run.pipeline, given, declared)
    labels = {"tekton.dev/pipeline": run.pipeline, "retrain.dev/trigger": run.trigger, **run.labels}
    if model is not None:
        labels["retrain.dev/model"] = model.name
    body = pipelinerun(
        values,
        pipeline,
        given,
        generate_name=run.generate_name or f"{model.name if model else run.pipeline}-{run.trigger}-",
        run_labels=labels,
        annotations=run.annotations or None,
        docs=docs,
    )
    spec = body["spec"]
    if run.claim is not None:
        for binding in spec["workspaces"]:
            if binding["name"] == "model-storage":
                binding["persistentVolumeClaim"]["claimName"] = run.claim
    if run.service_account is not None:
        spec["taskRunTemplate"]["serviceAccountName"] = run.service_account
    return body
