"""Strict models of the custom resources retrain renders that no shipped schema covers: Tekton Triggers
(triggers.tekton.dev/v1beta1), KServe InferenceService (serving.kserve.io/v1beta1), the Prometheus
operator's PrometheusRule and AlertmanagerConfig, and kustomize's Kustomization.

Fields follow each project's Go types (the subset retrain can render, plus the other documented fields as
opaque JSON); unknown fields are rejected with "did you mean", wrong types named, as for Tekton.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

Opaque = dict[str, Any]


class _Strict(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=True)


class ObjectMeta(_Strict):
    name: str
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


# --- Tekton Triggers ------------------------------------------------------------------------------


class InterceptorRef(_Strict):
    name: str
    kind: Literal["ClusterInterceptor", "NamespacedInterceptor"] | None = None
    api_version: str | None = None


class InterceptorParam(_Strict):
    name: str
    value: Any


class TriggerInterceptor(_Strict):
    name: str | None = None
    ref: InterceptorRef | None = None
    params: list[InterceptorParam] = Field(default_factory=list)
    webhook: Opaque | None = None


class TriggerSpecBinding(_Strict):
    name: str | None = None
    value: str | None = None
    ref: str | None = None
    kind: Literal["TriggerBinding", "ClusterTriggerBinding"] | None = None
    api_version: str | None = None


class TriggerSpecTemplate(_Strict):
    ref: str | None = None
    api_version: str | None = None
    spec: Opaque | None = None


class EventListenerTrigger(_Strict):
    name: str | None = None
    interceptors: list[TriggerInterceptor] = Field(default_factory=list)
    bindings: list[TriggerSpecBinding] = Field(default_factory=list)
    template: TriggerSpecTemplate | None = None
    trigger_ref: str | None = None
    service_account_name: str | None = None


class KubernetesResource(_Strict):
    replicas: int | None = None
    service_type: str | None = None
    service_port: int | None = None
    service_load_balancer_class: str | None = None
    metadata: Opaque | None = None
    spec: Opaque | None = None


class EventListenerResources(_Strict):
    kubernetes_resource: KubernetesResource | None = None
    custom_resource: Opaque | None = None


class EventListenerSpec(_Strict):
    service_account_name: str | None = None
    triggers: list[EventListenerTrigger] = Field(default_factory=list)
    trigger_groups: list[Opaque] | None = None
    cloud_event_uri: str | None = Field(default=None, alias="cloudEventURI")
    namespace_selector: Opaque | None = None
    label_selector: Opaque | None = None
    resources: EventListenerResources | None = None


class EventListener(_Strict):
    api_version: Literal["triggers.tekton.dev/v1beta1"]
    kind: Literal["EventListener"]
    metadata: ObjectMeta
    spec: EventListenerSpec


class BindingParam(_Strict):
    name: str
    value: str


class TriggerBindingSpec(_Strict):
    params: list[BindingParam] = Field(default_factory=list)


class TriggerBinding(_Strict):
    api_version: Literal["triggers.tekton.dev/v1beta1"]
    kind: Literal["TriggerBinding"]
    metadata: ObjectMeta
    spec: TriggerBindingSpec


class TemplateParam(_Strict):
    name: str
    description: str | None = None
    default: str | None = None


class TriggerTemplateSpec(_Strict):
    params: list[TemplateParam] = Field(default_factory=list)
    resourcetemplates: list[Opaque] = Field(default_factory=list, alias="resourcetemplates")


class TriggerTemplate(_Strict):
    api_version: Literal["triggers.tekton.dev/v1beta1"]
    kind: Literal["TriggerTemplate"]
    metadata: ObjectMeta
    spec: TriggerTemplateSpec


# --- KServe ---------------------------------------------------------------------------------------


class ModelFormat(_Strict):
    name: str
    version: str | None = None


class PredictorModel(_Strict):
    model_format: ModelFormat
    storage_uri: str | None = None
    runtime: str | None = None
    protocol_version: Literal["v1", "v2", "grpc-v2"] | None = None
    resources: Opaque | None = None
    env: list[Opaque] | None = None
    args: list[str] | None = None


class PredictorSpec(_Strict):
    min_replicas: int | None = None
    max_replicas: int | None = None
    model: PredictorModel | None = None
    containers: list[Opaque] | None = None  # core Containers: checked against Kubernetes' definition
    volumes: list[Opaque] | None = None  # core Volumes: likewise
    service_account_name: str | None = None
    node_selector: dict[str, str] | None = None
    tolerations: list[Opaque] | None = None
    scale_target: int | None = None
    scale_metric: str | None = None
    timeout: int | None = None
    canary_traffic_percent: int | None = None


class InferenceServiceSpec(_Strict):
    predictor: PredictorSpec
    transformer: Opaque | None = None
    explainer: Opaque | None = None


class InferenceService(_Strict):
    api_version: Literal["serving.kserve.io/v1beta1"]
    kind: Literal["InferenceService"]
    metadata: ObjectMeta
    spec: InferenceServiceSpec


# --- Prometheus operator --------------------------------------------------------------------------


class Rule(_Strict):
    alert: str | None = None
    record: str | None = None
    expr: str
    for_: str | None = Field(default=None, alias="for")
    keep_firing_for: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class RuleGroup(_Strict):
    name: str
    rules: list[Rule]
    interval: str | None = None
    limit: int | None = None


class PrometheusRuleSpec(_Strict):
    groups: list[RuleGroup]


class PrometheusRule(_Strict):
    api_version: Literal["monitoring.coreos.com/v1"]
    kind: Literal["PrometheusRule"]
    metadata: ObjectMeta
    spec: PrometheusRuleSpec


class Matcher(_Strict):
    name: str
    value: str | None = None
    match_type: Literal["=", "!=", "=~", "!~"] | None = None


class Route(_Strict):
    receiver: str | None = None
    group_by: list[str] | None = None
    group_wait: str | None = None
    group_interval: str | None = None
    repeat_interval: str | None = None
    matchers: list[Matcher] | None = None
    continue_: bool | None = Field(default=None, alias="continue")
    routes: list[Opaque] | None = None


class WebhookConfig(_Strict):
    url: str | None = None
    url_secret: Opaque | None = None
    send_resolved: bool | None = None
    http_config: Opaque | None = None
    max_alerts: int | None = None


class Receiver(_Strict):
    name: str
    webhook_configs: list[WebhookConfig] | None = None
    email_configs: list[Opaque] | None = None
    slack_configs: list[Opaque] | None = None
    pagerduty_configs: list[Opaque] | None = None


class AlertmanagerConfigSpec(_Strict):
    route: Route | None = None
    receivers: list[Receiver] = Field(default_factory=list)
    inhibit_rules: list[Opaque] | None = None


class AlertmanagerConfig(_Strict):
    api_version: Literal["monitoring.coreos.com/v1beta1"]
    kind: Literal["AlertmanagerConfig"]
    metadata: ObjectMeta
    spec: AlertmanagerConfigSpec


# --- kustomize ------------------------------------------------------------------------------------


class Kustomization(_Strict):
    api_version: Literal["kustomize.config.k8s.io/v1beta1"]
    kind: Literal["Kustomization"]
    namespace: str | None = None
    resources: list[str] = Field(default_factory=list)
    labels: list[Opaque] | None = None
    patches: list[Opaque] | None = None
    images: list[Opaque] | None = None


STRICT_KINDS: dict[tuple[str, str], type[_Strict]] = {
    ("triggers.tekton.dev/v1beta1", "EventListener"): EventListener,
    ("triggers.tekton.dev/v1beta1", "TriggerBinding"): TriggerBinding,
    ("triggers.tekton.dev/v1beta1", "TriggerTemplate"): TriggerTemplate,
    ("serving.kserve.io/v1beta1", "InferenceService"): InferenceService,
    ("monitoring.coreos.com/v1", "PrometheusRule"): PrometheusRule,
    ("monitoring.coreos.com/v1beta1", "AlertmanagerConfig"): AlertmanagerConfig,
    ("kustomize.config.k8s.io/v1beta1", "Kustomization"): Kustomization,
}
