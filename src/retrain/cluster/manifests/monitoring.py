"""The drift alerts (monitoring.coreos.com/v1 PrometheusRule) and, optionally, the route that sends
ModelDrift to the `retrain-events` EventListener (monitoring.coreos.com/v1beta1 AlertmanagerConfig, which
OpenShift's user-workload Alertmanager honours when `enableUserAlertmanagerConfig` is on).

The series come from the drift CronJobs (drift_cron.py: `retrain drift check --pushgateway`, one per
model, scraped from the Pushgateway). The rules mirror `deploy/prometheus/retrain-drift-rules.yaml`
exactly (a test holds them equal): ModelDrift
compares each model's `retrain_model_drift_score` with the `retrain_model_drift_threshold` retrain exports
beside it, so the threshold is set in one place; its `model` label is what the drift trigger matches on.
The route mirrors `deploy/alertmanager/alertmanager-route.yaml` (one notification per model, repeated at
most every `drift.repeatInterval` while the model stays drifted: each repeat starts a training).
"""

from __future__ import annotations

from retrain.cluster.manifests import EVENTS_LISTENER, Doc, document, metadata
from retrain.cluster.values import SiteValues

API = "monitoring.coreos.com/v1"
ALERT = "ModelDrift"

RULE_GROUPS: list[Doc] = [
    {
        "name": "retrain-drift",
        "rules": [
            {
                "alert": ALERT,
                "expr": (
                    "max by (model) (retrain_model_drift_score)\n"
                    "  >= on (model) max by (model) (retrain_model_drift_threshold)\n"
                ),
                "for": "15m",
                "labels": {"severity": "warning", "team": "ml"},
                "annotations": {
                    "summary": "Model {{ $labels.model }} has drifted",
                    "description": (
                        "{{ $value | humanizePercentage }} of the features of {{ $labels.model }}"
                        " drifted away"
                        " from the training reference of the serving version (PSI/KS per feature:"
                        " retrain_feature_drift_psi). retrain retrains the model when this alert reaches"
                        " /hooks/alertmanager."
                    ),
                    "runbook_url": "docs/drift.md",
                },
            },
            {
                "alert": "ModelDriftCheckStale",
                "expr": (
                    "time() - max by (model) (retrain_model_drift_last_check_timestamp_seconds) > 3 * 3600"
                ),
                "for": "10m",
                "labels": {"severity": "info"},
                "annotations": {
                    "summary": "No drift check of {{ $labels.model }} for over 3 hours",
                    "description": (
                        "The drift gauges of {{ $labels.model }} are stale; is the drift monitor running?"
                    ),
                },
            },
        ],
    }
]


def events_url(values: SiteValues) -> str:
    return f"http://el-{EVENTS_LISTENER}.{values.ns}.svc.cluster.local:8080"


def _rules(values: SiteValues) -> Doc:
    return document(API, "PrometheusRule", metadata("retrain-drift", values.ns), spec={"groups": RULE_GROUPS})


def _route(values: SiteValues) -> Doc:
    spec = {
        "route": {
            "receiver": EVENTS_LISTENER,
            "matchers": [{"name": "alertname", "value": ALERT, "matchType": "="}],
            "groupBy": ["alertname", "model"],
            "groupWait": "30s",
            "groupInterval": "5m",
            "repeatInterval": values.drift.repeat_interval,
        },
        "receivers": [
            {
                "name": EVENTS_LISTENER,
                "webhookConfigs": [{"url": events_url(values), "sendResolved": False, "maxAlerts": 0}],
            }
        ],
    }
    meta = metadata("retrain-drift", values.ns)
    return document("monitoring.coreos.com/v1beta1", "AlertmanagerConfig", meta, spec=spec)


def build(values: SiteValues) -> list[Doc]:
    out = [_rules(values)]
    if values.drift.alertmanager_config:
        out.append(_route(values))
    return out
