"""ServiceAccounts and the least privilege each needs (docs/cluster.md lists every rule and why).

- `retrain-pipeline` (TaskRun pods): patch InferenceServices to serve a new version and watch them become
  Ready; optionally delete predictor pods (`--restart-pods`) and run NotebookValidationJobs. The registry is
  a volume and the Prometheus token a mounted Secret: neither needs an API verb. The drift CronJobs run as
  it too (for the SCC): `retrain drift check` reads the volume and Prometheus and uses no API verb.
- `retrain-triggers` (EventListeners): read the trigger objects, create PipelineRuns. Resolving the built-in
  `github` and `cel` ClusterInterceptors needs read access to two cluster-scoped kinds: the only
  ClusterRole rendered, read-only, and bound to this one ServiceAccount.
- `retrain-cron` (CronJobs): create a PipelineRun and read it until it finishes.
"""

from __future__ import annotations

from retrain.cluster.manifests import SA_CRON, SA_PIPELINE, SA_TRIGGERS, Doc, document, metadata
from retrain.cluster.values import SiteValues

RBAC = "rbac.authorization.k8s.io/v1"
TEKTON = "tekton.dev"
TRIGGERS = "triggers.tekton.dev"
KSERVE = "serving.kserve.io"
NOTEBOOK_JOBS = "mlops.mlops.dev"


def _rule(group: str, resources: list[str], verbs: list[str]) -> Doc:
    return {"apiGroups": [group], "resources": resources, "verbs": verbs}


def pipeline_rules(values: SiteValues) -> list[Doc]:
    rules = [_rule(KSERVE, ["inferenceservices"], ["get", "list", "watch", "patch"])]
    if values.kserve.restart_pods:
        rules.append(_rule("", ["pods"], ["get", "list", "watch", "delete"]))
    if values.training.uses_jobs:
        rules.append(_rule(NOTEBOOK_JOBS, ["notebookvalidationjobs"], ["get", "list", "watch", "create"]))
    return rules


def triggers_rules() -> list[Doc]:
    return [
        _rule(
            TRIGGERS,
            ["eventlisteners", "triggers", "triggerbindings", "triggertemplates", "interceptors"],
            ["get", "list", "watch"],
        ),
        _rule("", ["configmaps"], ["get", "list", "watch"]),
        _rule(TEKTON, ["pipelineruns"], ["create"]),
    ]


def triggers_cluster_rules() -> list[Doc]:
    return [_rule(TRIGGERS, ["clusterinterceptors", "clustertriggerbindings"], ["get", "list", "watch"])]


def cron_rules() -> list[Doc]:
    return [_rule(TEKTON, ["pipelineruns"], ["create", "get"])]


def _account(values: SiteValues, name: str, description: str) -> Doc:
    meta = metadata(name, values.ns, annotations={"retrain.dev/description": description})
    return document("v1", "ServiceAccount", meta)


def _role(values: SiteValues, name: str, rules: list[Doc]) -> Doc:
    return document(RBAC, "Role", metadata(name, values.ns), rules=rules)


def _binding(
    values: SiteValues, name: str, account: str, role_kind: str, role: str, *, cluster: bool = False
) -> Doc:
    kind = "ClusterRoleBinding" if cluster else "RoleBinding"
    return document(
        RBAC,
        kind,
        metadata(name, None if cluster else values.ns),
        roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        subjects=[{"kind": "ServiceAccount", "name": account, "namespace": values.ns}],
    )


def build(values: SiteValues) -> list[Doc]:
    ns = values.ns
    out = [
        _account(values, SA_PIPELINE, "Runs the TaskRun pods of the retrain pipelines."),
        _role(values, SA_PIPELINE, pipeline_rules(values)),
        _binding(values, SA_PIPELINE, SA_PIPELINE, "Role", SA_PIPELINE),
    ]
    if values.rbac.scc_cluster_role:
        # `oc adm policy add-scc-to-user <scc> -z retrain-pipeline`, written down: a namespaced binding.
        out.append(
            _binding(values, f"{SA_PIPELINE}-scc", SA_PIPELINE, "ClusterRole", values.rbac.scc_cluster_role)
        )
    cluster_role = f"retrain-triggers-{ns}"
    out += [
        _account(values, SA_TRIGGERS, "Runs the EventListeners; creates PipelineRuns."),
        _role(values, SA_TRIGGERS, triggers_rules()),
        _binding(values, SA_TRIGGERS, SA_TRIGGERS, "Role", SA_TRIGGERS),
        document(RBAC, "ClusterRole", metadata(cluster_role, None), rules=triggers_cluster_rules()),
        _binding(values, cluster_role, SA_TRIGGERS, "ClusterRole", cluster_role, cluster=True),
        _account(values, SA_CRON, "Runs the CronJobs; creates a PipelineRun and waits for it."),
        _role(values, SA_CRON, cron_rules()),
        _binding(values, SA_CRON, SA_CRON, "Role", SA_CRON),
    ]
    return out
