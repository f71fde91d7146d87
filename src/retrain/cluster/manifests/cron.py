"""CronJobs (batch/v1) that start PipelineRuns on the site's schedules.

How: each schedule has a ConfigMap holding the PipelineRun manifest (static YAML, validated like every other
rendered document) and a CronJob whose container runs `kubectl create -f` on it with the OpenShift `cli`
image, then waits for the run to finish. Waiting is the point: `concurrencyPolicy: Forbid` then really keeps
a second run of the same schedule from starting while one is still training, and the Job's outcome (and the
CronJob's history) is the PipelineRun's. The Job never retries (`backoffLimit: 0`), so one tick never
creates two runs. ServiceAccount `retrain-cron`: `create` and `get` on pipelineruns, nothing else.
(`retrain cluster start` in the retrain image would do the same, but needs the Kubernetes client extra
and a shell-free wait; kubectl is already on every OpenShift cluster.)
"""

from __future__ import annotations

from retrain.cluster.manifests import SA_CRON, Doc, document, drift_cron, metadata
from retrain.cluster.manifests.runs import (
    HEALTH_CHECK_PIPELINE,
    model_params,
    pipeline_named,
    pipelinerun,
    site_params,
    training_pipeline,
)
from retrain.cluster.manifests.tekton import TIMEOUT_ANNOTATION
from retrain.cluster.values import Schedule, SiteValues
from retrain.cluster.yamlout import dump_document
from retrain.tekton.durations import parse_duration

MANIFEST_DIR = "/etc/retrain"
MANIFEST_KEY = "pipelinerun.yaml"
SLACK_S = 600  # the Job may outlive the run's own timeout by this much (scheduling, start-up)

START_AND_WAIT = f"""\
set -eu
run=$(kubectl create -f {MANIFEST_DIR}/{MANIFEST_KEY} -o name)
echo "created $run"
# Wait, so that concurrencyPolicy Forbid holds for the whole run and the Job's outcome is the run's.
while :; do
  status=$(kubectl get "$run" -o jsonpath='{{.status.conditions[?(@.type=="Succeeded")].status}}')
  case "$status" in
    True) echo "$run succeeded"; exit 0 ;;
    False)
      reason=$(kubectl get "$run" -o jsonpath='{{.status.conditions[?(@.type=="Succeeded")].message}}')
      echo "$run failed: $reason" >&2
      exit 1 ;;
  esac
  sleep 30
done
"""


def _run(values: SiteValues, schedule: Schedule, pipelines: list[Doc]) -> Doc:
    model = next(m for m in values.models if m.name == schedule.model)
    if schedule.pipeline == "health-check":
        pipeline = pipeline_named(pipelines, HEALTH_CHECK_PIPELINE)
    else:
        pipeline = training_pipeline(pipelines, model)
    params = {
        **model_params(values, model),
        **site_params(values),
        "training-hours": str(schedule.training_hours or model.training_hours),
        "data-source": schedule.data_source or model.data_source,
    }
    return pipelinerun(
        values,
        pipeline,
        params,
        generate_name=f"{model.name}-cron-",
        run_labels={
            "retrain.dev/model": model.name,
            "retrain.dev/trigger": "cron",
            "retrain.dev/schedule": schedule.name,
        },
        annotations={"retrain.dev/trigger-reason": f"schedule {schedule.name} ({schedule.cron})"},
        docs=pipelines,
    )


def _deadline_s(run: Doc, pipelines: list[Doc]) -> int:
    pipeline = pipeline_named(pipelines, run["spec"]["pipelineRef"]["name"])
    timeout = pipeline["metadata"].get("annotations", {}).get(TIMEOUT_ANNOTATION, "1h")
    return int(parse_duration(timeout).total_seconds()) + SLACK_S


def _cronjob(values: SiteValues, schedule: Schedule, name: str, deadline_s: int) -> Doc:
    container = {
        "name": "start-pipelinerun",
        "image": values.cron.image,
        "command": ["/bin/sh", "-c", START_AND_WAIT],
        "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "pipelinerun", "mountPath": MANIFEST_DIR, "readOnly": True}],
    }
    pod = {
        "serviceAccountName": SA_CRON,
        "restartPolicy": "Never",
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        "volumes": [{"name": "pipelinerun", "configMap": {"name": name}}],
    }
    job = {
        "backoffLimit": 0,
        "activeDeadlineSeconds": deadline_s,
        "template": {"metadata": {"labels": {"retrain.dev/schedule": schedule.name}}, "spec": pod},
    }
    spec = {
        "schedule": schedule.cron,
        "timeZone": values.cron.time_zone,
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 3600,
        "successfulJobsHistoryLimit": values.cron.successful_jobs_history_limit,
        "failedJobsHistoryLimit": values.cron.failed_jobs_history_limit,
        "jobTemplate": {"spec": job},
    }
    meta = metadata(
        name,
        values.ns,
        extra_labels={"retrain.dev/model": schedule.model, "retrain.dev/schedule": schedule.name},
    )
    return document("batch/v1", "CronJob", meta, spec=spec)


def build(values: SiteValues, pipelines: list[Doc]) -> list[Doc]:
    out: list[Doc] = []
    for schedule in values.all_schedules():
        name = f"retrain-{schedule.name}"
        run = _run(values, schedule, pipelines)
        config = document(
            "v1",
            "ConfigMap",
            metadata(name, values.ns, extra_labels={"retrain.dev/schedule": schedule.name}),
            data={MANIFEST_KEY: dump_document(run)},
        )
        out += [config, _cronjob(values, schedule, name, _deadline_s(run, pipelines))]
    return out + drift_cron.build(values)
