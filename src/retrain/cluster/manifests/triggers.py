"""Tekton Triggers (triggers.tekton.dev/v1beta1): what turns an event into a PipelineRun.

Two EventListeners, so that only the one GitHub must reach needs a Route:
- `retrain-github`: per model, a `git-push-<model>` trigger. The `github` interceptor checks the HMAC
  signature with the webhook Secret and accepts `push` events only; a `cel` interceptor keeps pushes to the
  watched branch whose commits add or modify what the model trains from: a custom model's own notebook, or,
  for a built-in model (no `notebook`), any file under `webhook.notebooksPath` (the platform's notebooks the
  built-in trainers follow). A push that touches nothing a model trains from starts nothing.
- `retrain-events` (in-cluster only): `drift-<model>` (an Alertmanager webhook whose firing alerts include
  ModelDrift for the model) and `manual-<model>` (a POST with header `X-Retrain-Trigger: manual` and a JSON
  body `{"model": ..., "trainingHours": "24", "dataSource": "synthetic", "reason": ...}`).

Every trigger's `cel` interceptor writes the same four extensions (training_hours, data_source, trigger,
reason), so one TriggerBinding (`retrain-event`) serves all of them; a TriggerBinding per model carries the
model's own params; one TriggerTemplate per training pipeline creates the v1 PipelineRun.
"""

from __future__ import annotations

from retrain.cluster.manifests import EVENTS_LISTENER, GITHUB_LISTENER, SA_TRIGGERS, Doc, document, metadata
from retrain.cluster.manifests.runs import (
    TRAINING_PIPELINES,
    model_params,
    pipelinerun,
    site_params,
    training_pipeline,
)
from retrain.cluster.values import ModelValues, SiteValues

API = "triggers.tekton.dev/v1beta1"
EVENT_BINDING = "retrain-event"
DATA_SOURCES = ("synthetic", "prometheus", "hybrid")
EVENT_PARAMS = {
    "training-hours": ("training_hours", "Training window in hours."),
    "data-source": ("data_source", "synthetic, prometheus or hybrid."),
    "trigger": ("trigger", "What started the run: git-push, drift-alert or manual (a label of the run)."),
    "reason": ("reason", "Why, in words (an annotation of the run)."),
}
MODEL_PARAM_HELP = {
    "model-name": "The model to train.",
    "notebook-path": "Repository path of a custom notebook; empty for the built-in one.",
    "inference-service-name": "The InferenceService that serves the model.",
    "serving-url": "The predictor's in-cluster URL.",
    "deploy-target": "kserve: deploy through the InferenceService (either predictor), verify at its URL.",
    "health-check-enabled": "true runs every gate check; false only the load checks.",
}


def _quote(text: str) -> str:
    """A CEL string literal; site values that reach CEL are restricted to characters that need no escape."""
    return f"'{text}'"


def _cel(filter_: str, overlays: dict[str, str]) -> Doc:
    return {
        "ref": {"name": "cel"},
        "params": [
            {"name": "filter", "value": filter_},
            {"name": "overlays", "value": [{"key": k, "expression": v} for k, v in overlays.items()]},
        ],
    }


def _defaults(model: ModelValues, trigger: str, reason: str) -> dict[str, str]:
    return {
        "training_hours": _quote(str(model.training_hours)),
        "data_source": _quote(model.data_source),
        "trigger": _quote(trigger),
        "reason": reason,
    }


def template_name(pipeline: str) -> str:
    return f"retrain-{pipeline}"


def _trigger(name: str, model: ModelValues, interceptors: list[Doc]) -> Doc:
    return {
        "name": name,
        "interceptors": interceptors,
        "bindings": [{"ref": f"retrain-model-{model.name}"}, {"ref": EVENT_BINDING}],
        "template": {"ref": template_name(TRAINING_PIPELINES[model.gpu])},
    }


def git_push_trigger(values: SiteValues, model: ModelValues) -> Doc:
    hook = values.webhook
    if model.notebook:
        match = f"f == {_quote(model.notebook)}"
    else:  # a built-in model: anything under the notebooks path (the path filter)
        match = f"f.startsWith({_quote(hook.notebooks_path)})"
    changed = f"body.commits.exists(c, c.added.exists(f, {match}) || c.modified.exists(f, {match}))"
    github = {
        "ref": {"name": "github"},
        "params": [
            {"name": "secretRef", "value": {"secretName": hook.secret_name, "secretKey": hook.secret_key}},
            {"name": "eventTypes", "value": ["push"]},
        ],
    }
    filter_ = f"body.ref == {_quote('refs/heads/' + hook.branch)} && {changed}"
    overlays = _defaults(model, "git-push", "'git push ' + body.after")
    return _trigger(f"git-push-{model.name}", model, [github, _cel(filter_, overlays)])


def drift_trigger(model: ModelValues) -> Doc:
    filter_ = (
        "body.alerts.exists(a, a.status == 'firing' && a.labels.alertname == 'ModelDrift'"
        f" && 'model' in a.labels && a.labels.model == {_quote(model.name)})"
    )
    overlays = _defaults(model, "drift-alert", "'ModelDrift alert from ' + body.receiver")
    return _trigger(f"drift-{model.name}", model, [_cel(filter_, overlays)])


def manual_trigger(model: ModelValues) -> Doc:
    sources = "[" + ", ".join(_quote(s) for s in DATA_SOURCES) + "]"
    filter_ = (
        "header.match('X-Retrain-Trigger', 'manual')"
        f" && body.model == {_quote(model.name)}"
        f" && (!has(body.dataSource) || body.dataSource in {sources})"
    )
    overlays = _defaults(model, "manual", "has(body.reason) ? body.reason : 'manual request'")
    overlays["training_hours"] = (
        f"has(body.trainingHours) ? body.trainingHours : {overlays['training_hours']}"
    )
    overlays["data_source"] = f"has(body.dataSource) ? body.dataSource : {overlays['data_source']}"
    return _trigger(f"manual-{model.name}", model, [_cel(filter_, overlays)])


def _listener(values: SiteValues, name: str, triggers: list[Doc], description: str) -> Doc:
    spec: Doc = {"serviceAccountName": SA_TRIGGERS, "triggers": triggers}
    if values.triggers.replicas != 1:
        spec["resources"] = {"kubernetesResource": {"replicas": values.triggers.replicas}}
    meta = metadata(name, values.ns, annotations={"retrain.dev/description": description})
    return document(API, "EventListener", meta, spec=spec)


def _binding(values: SiteValues, name: str, params: dict[str, str]) -> Doc:
    spec = {"params": [{"name": k, "value": v} for k, v in params.items()]}
    return document(API, "TriggerBinding", metadata(name, values.ns), spec=spec)


def _template(values: SiteValues, pipeline: Doc, docs: list[Doc]) -> Doc:
    names = [*MODEL_PARAM_HELP, *EVENT_PARAMS]
    helps = {**MODEL_PARAM_HELP, **{k: v[1] for k, v in EVENT_PARAMS.items()}}
    params = {name: f"$(tt.params.{name})" for name in names}
    run = pipelinerun(
        values,
        pipeline,
        {**params, **site_params(values)},
        generate_name="$(tt.params.model-name)-$(tt.params.trigger)-",
        run_labels={
            "retrain.dev/model": "$(tt.params.model-name)",
            "retrain.dev/trigger": "$(tt.params.trigger)",
        },
        annotations={"retrain.dev/trigger-reason": "$(tt.params.reason)"},
        docs=docs,
    )
    spec = {"params": [{"name": n, "description": helps[n]} for n in names], "resourcetemplates": [run]}
    return document(
        API, "TriggerTemplate", metadata(template_name(pipeline["metadata"]["name"]), values.ns), spec=spec
    )


def build(values: SiteValues, pipelines: list[Doc]) -> list[Doc]:
    out = [_binding(values, EVENT_BINDING, {k: f"$(extensions.{v[0]})" for k, v in EVENT_PARAMS.items()})]
    out += [_binding(values, f"retrain-model-{m.name}", model_params(values, m)) for m in values.models]
    used: dict[str, Doc] = {}
    for model in values.models:
        pipeline = training_pipeline(pipelines, model)
        used.setdefault(pipeline["metadata"]["name"], pipeline)
    out += [_template(values, used[name], pipelines) for name in sorted(used)]
    out.append(
        _listener(
            values,
            GITHUB_LISTENER,
            [git_push_trigger(values, m) for m in values.models],
            "GitHub push webhooks (signature checked); expose this one with a Route.",
        )
    )
    events = [t for m in values.models for t in (drift_trigger(m), manual_trigger(m))]
    out.append(
        _listener(
            values, EVENTS_LISTENER, events, "Alertmanager drift alerts and manual requests; in-cluster only."
        )
    )
    return out
