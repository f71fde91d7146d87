"""A CronJob per model that runs `retrain drift check` and pushes the drift gauges to the Pushgateway.

This is what gives the rendered PrometheusRule its series: ModelDrift reads `retrain_model_drift_score` and
`retrain_model_drift_threshold`, ModelDriftCheckStale `retrain_model_drift_last_check_timestamp_seconds`,
all pushed here (grouped by model). The Alertmanager route then sends ModelDrift to the `retrain-events`
EventListener, whose drift trigger starts a training.

The container runs in the site's image as the pipeline ServiceAccount (the one the SCC is bound to), with
the model-storage claim mounted read-only (the serving version and its training reference) and the
Prometheus token as the pipeline steps get it. `retrain drift check` exits 5 when the model drifted: that is
a finding, reported through the gauges, not a failure, so the wrapper turns 5 into 0 and the Job does not
retry or show as failed. Every other code (Prometheus unreachable, no reference) fails the Job, so the
CronJob's history shows broken checks; `backoffLimit: 0`, the next tick is the retry.
"""

from __future__ import annotations

from retrain.cluster.manifests import SA_PIPELINE, Doc, document, metadata
from retrain.cluster.manifests.prometheus_access import prometheus_access
from retrain.cluster.values import ModelValues, SiteValues

REGISTRY_DIR = "/var/lib/retrain/models"
EXIT_DRIFTED = 5  # retrain.cli.exits.EXIT_DRIFTED (the cluster layer may not import the CLI)
DEADLINE_S = 1800


def check_script(values: SiteValues, model: ModelValues) -> str:
    """The shell wrapper: the check, with drift (exit 5) reported by the gauges and not as a failure."""
    return (
        "set -u\n"
        f"retrain drift check {model.name} --registry {REGISTRY_DIR} --data-source prometheus"
        f" --hours {values.drift.check_hours:g}"
        f' --prometheus-url "$PROMETHEUS_URL" --pushgateway "$PUSHGATEWAY_URL"\n'
        "rc=$?\n"
        f'if [ "$rc" -eq {EXIT_DRIFTED} ]; then\n'
        f'  echo "{model.name} drifted: reported by the drift gauges, not as a Job failure"\n'
        "  exit 0\n"
        "fi\n"
        'exit "$rc"\n'
    )


def _env(values: SiteValues) -> list[Doc]:
    return [
        {"name": "PROMETHEUS_URL", "value": values.prometheus.url},
        {"name": "PUSHGATEWAY_URL", "value": values.pushgateway_url},
        *prometheus_access(values).env,
    ]


def _cronjob(values: SiteValues, model: ModelValues, index: int) -> Doc:
    storage = values.storage.model_storage.claim_name
    mounts: list[Doc] = [{"name": "model-storage", "mountPath": REGISTRY_DIR, "readOnly": True}]
    volumes: list[Doc] = [
        {"name": "model-storage", "persistentVolumeClaim": {"claimName": storage, "readOnly": True}}
    ]
    access = prometheus_access(values)
    mounts += access.mounts
    volumes += access.volumes
    container = {
        "name": "drift-check",
        "image": values.image,
        "command": ["/bin/sh", "-c", check_script(values, model)],
        "env": _env(values),
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": mounts,
    }
    pod = {
        "serviceAccountName": SA_PIPELINE,
        "restartPolicy": "Never",
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        "volumes": volumes,
    }
    job = {
        "backoffLimit": 0,
        "activeDeadlineSeconds": DEADLINE_S,
        "template": {"metadata": {"labels": {"retrain.dev/model": model.name}}, "spec": pod},
    }
    cron = values.drift_cron()
    fields = cron.split()
    if fields[0] == "7" and index:  # spread the models' checks over the hour
        cron = " ".join([str((7 + 5 * index) % 60), *fields[1:]])
    spec = {
        "schedule": cron,
        "timeZone": values.cron.time_zone,
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 600,
        "successfulJobsHistoryLimit": values.cron.successful_jobs_history_limit,
        "failedJobsHistoryLimit": values.cron.failed_jobs_history_limit,
        "jobTemplate": {"spec": job},
    }
    meta = metadata(
        f"retrain-drift-{model.name}",
        values.ns,
        extra_labels={"retrain.dev/model": model.name, "retrain.dev/check": "drift"},
    )
    return document("batch/v1", "CronJob", meta, spec=spec)


def build(values: SiteValues) -> list[Doc]:
    if not values.drift.checks:
        return []
    return [_cronjob(values, model, i) for i, model in enumerate(values.models)]
