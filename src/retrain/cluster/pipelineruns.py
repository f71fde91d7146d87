"""Tekton v1 PipelineRuns on a cluster: start, list, cancel, and follow logs (the TaskRun pods' steps).

`start` checks the request against the Pipeline the cluster holds (unknown params with "did you mean",
missing required params, workspaces), binds `model-storage` to the claim, takes the Pipeline's
`retrain.dev/pipeline-timeout` annotation as `spec.timeouts.pipeline`, and creates the run.

`follow_logs` prints `[task/step] line` for every TaskRun of the run, TaskRuns in the order they started
and each one's steps in order (a step's container log is complete before the next step's starts), waiting
for pods and containers to start, until the PipelineRun is done (with `follow`) or what exists now.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from retrain.cluster.client import KNOWN, PIPELINERUN, POD, TASKRUN, Cluster
from retrain.errors import InvalidInput, Location, NotFound

PIPELINE = KNOWN[("tekton.dev/v1", "Pipeline")]
TIMEOUT_ANNOTATION = "retrain.dev/pipeline-timeout"
CancelMode = Literal["Cancelled", "CancelledRunFinally", "StoppedRunFinally"]
Echo = Callable[[str], None]


@dataclass(frozen=True)
class RunRow:
    name: str
    pipeline: str
    status: str  # Succeeded condition reason, or Pending
    done: bool
    started: str
    finished: str
    message: str


def condition(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The `Succeeded` condition of a run ({} while there is none)."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Succeeded":
            return dict(cond)
    return {}


def is_done(obj: Mapping[str, Any]) -> bool:
    return condition(obj).get("status") in ("True", "False")


def row(obj: Mapping[str, Any]) -> RunRow:
    cond, status = condition(obj), obj.get("status") or {}
    spec = obj.get("spec") or {}
    return RunRow(
        name=str(obj["metadata"]["name"]),
        pipeline=str((spec.get("pipelineRef") or {}).get("name") or "(inline)"),
        status=str(cond.get("reason") or ("PipelineRunPending" if spec.get("status") else "Pending")),
        done=is_done(obj),
        started=str(status.get("startTime") or ""),
        finished=str(status.get("completionTime") or ""),
        message=str(cond.get("message") or ""),
    )


def start_run(
    cluster: Cluster,
    pipeline: str,
    params: Mapping[str, str],
    *,
    claim: str = "model-storage",
    namespace: str | None = None,
    service_account: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Create a v1 PipelineRun of `pipeline` (as the cluster holds it); returns the created object."""
    ns = namespace or cluster.namespace
    try:
        declared = cluster.get(PIPELINE, pipeline, ns)
    except NotFound:
        raise NotFound(
            f"Pipeline {pipeline!r} is not in namespace {ns} on {cluster.host}",
            location=Location(field="PIPELINE"),
            hint="apply the rendered tree first (retrain cluster apply DIR), or pass --namespace",
        ) from None
    spec = declared.get("spec") or {}
    check_params(pipeline, params, spec.get("params") or [])
    workspaces = [w.get("name") for w in spec.get("workspaces") or []]
    body: dict[str, Any] = {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {
            "generateName": f"{pipeline}-run-",
            "namespace": ns,
            "labels": {
                "app.kubernetes.io/managed-by": "retrain",
                "tekton.dev/pipeline": pipeline,
                **(labels or {}),
            },
        },
        "spec": {
            "pipelineRef": {"name": pipeline},
            "params": [{"name": k, "value": v} for k, v in params.items()],
        },
    }
    if "model-storage" in workspaces:
        body["spec"]["workspaces"] = [
            {"name": "model-storage", "persistentVolumeClaim": {"claimName": claim}}
        ]
    timeout = (declared.get("metadata", {}).get("annotations") or {}).get(TIMEOUT_ANNOTATION)
    if timeout:
        body["spec"]["timeouts"] = {"pipeline": timeout}
    if service_account:
        body["spec"]["taskRunTemplate"] = {"serviceAccountName": service_account}
    return cluster.create(PIPELINERUN, body, ns)


def check_params(pipeline: str, given: Mapping[str, str], declared: list[dict[str, Any]]) -> None:
    names = [str(p.get("name")) for p in declared]
    problems: list[InvalidInput] = []
    for name in given:
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = (
                f'did you mean "{close[0]}"?'
                if close
                else f"{pipeline} takes: {', '.join(names) or 'no params'}"
            )
            problems.append(
                InvalidInput(
                    f"Pipeline {pipeline} has no param {name!r}",
                    location=Location(field=f"-p {name}"),
                    hint=hint,
                )
            )
    for p in declared:
        if "default" not in p and p.get("name") not in given:
            problems.append(
                InvalidInput(
                    f"Pipeline {pipeline} needs param {p.get('name')!r}",
                    location=Location(field="-p"),
                    hint=f"add -p {p.get('name')}=VALUE",
                )
            )
    if problems:
        raise problems[0] if len(problems) == 1 else _many(problems)


def _many(problems: list[InvalidInput]) -> InvalidInput:
    from retrain.errors import InvalidInputs

    return InvalidInputs(problems)


def list_runs(cluster: Cluster, *, namespace: str | None = None, labels: str = "") -> list[RunRow]:
    items = cluster.list(PIPELINERUN, namespace, labels=labels).get("items") or []
    items.sort(
        key=lambda o: (str(o["metadata"].get("creationTimestamp")), o["metadata"]["name"]), reverse=True
    )
    return [row(o) for o in items]


def cancel_run(
    cluster: Cluster, name: str, mode: CancelMode = "Cancelled", *, namespace: str | None = None
) -> tuple[bool, RunRow]:
    """Patch spec.status (Tekton then stops the run); (False, row) when the run had already finished."""
    live = cluster.get(PIPELINERUN, name, namespace)
    if is_done(live):
        return False, row(live)
    patched = cluster.patch(PIPELINERUN, name, {"spec": {"status": mode}}, namespace)
    return True, row(patched)


def _order(pr: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], tuple[int, str, str]]:
    """TaskRuns in the order Tekton created them (childReferences), then by start time (seconds) and name."""
    refs = [str(c.get("name")) for c in (pr.get("status") or {}).get("childReferences") or []]
    rank = {name: i for i, name in enumerate(refs)}

    def key(obj: Mapping[str, Any]) -> tuple[int, str, str]:
        status, name = obj.get("status") or {}, str(obj["metadata"]["name"])
        started = str(status.get("startTime") or obj["metadata"].get("creationTimestamp") or "")
        return (rank.get(name, len(rank)), started, name)

    return key


def follow_logs(
    cluster: Cluster, run: str, echo: Echo, *, follow: bool, namespace: str | None = None
) -> RunRow:
    """Print the steps' logs of every TaskRun of `run` in order; with `follow`, until the run is done."""
    ns = namespace or cluster.namespace
    printed: set[str] = set()
    while True:
        pr = cluster.get(PIPELINERUN, run, ns)
        done = is_done(pr)
        selector = f"tekton.dev/pipelineRun={run}"
        listing = cluster.list(TASKRUN, ns, labels=selector)
        for tr in sorted(listing.get("items") or [], key=_order(pr)):
            name = tr["metadata"]["name"]
            if name not in printed and _print_taskrun(cluster, tr, ns, echo, follow=follow):
                printed.add(name)
        if not follow or done:
            if done and follow:
                rest = cluster.list(TASKRUN, ns, labels=selector).get("items") or []
                final = cluster.get(PIPELINERUN, run, ns)
                for tr in sorted(rest, key=_order(final)):
                    if tr["metadata"]["name"] not in printed:
                        _print_taskrun(cluster, tr, ns, echo, follow=True)
            return row(cluster.get(PIPELINERUN, run, ns) if follow else pr)
        rv = str(listing.get("metadata", {}).get("resourceVersion") or "")
        for _ in cluster.watch(TASKRUN, ns, resource_version=rv, timeout_s=2.0, labels=selector):
            break  # something changed: look again
        else:
            continue


def _print_taskrun(cluster: Cluster, tr: dict[str, Any], ns: str, echo: Echo, *, follow: bool) -> bool:
    """Print one TaskRun's steps; True when it is complete (with `follow`: every step has ended)."""
    labels = tr["metadata"].get("labels") or {}
    task = labels.get("tekton.dev/pipelineTask") or tr["metadata"]["name"]
    pod_name = (tr.get("status") or {}).get("podName")
    if not pod_name:
        if not follow or is_done(tr):
            return is_done(tr)
        _, tr = cluster.wait_for(
            TASKRUN,
            tr["metadata"]["name"],
            lambda o: bool((o.get("status") or {}).get("podName")) or is_done(o),
            timeout_s=3600,
            namespace=ns,
        )
        pod_name = (tr.get("status") or {}).get("podName")
        if not pod_name:
            return True
    try:
        pod = cluster.get(POD, pod_name, ns)
    except NotFound:
        echo(f"[{task}] (pod {pod_name} is gone; its logs with it)")
        return True
    complete = True
    for container in [c["name"] for c in pod["spec"].get("containers", []) if c["name"].startswith("step-")]:
        step = container.removeprefix("step-")
        if follow:
            state = _wait_started(cluster, pod_name, container, ns)
            if state == "never":
                continue
        elif _state(cluster.get(POD, pod_name, ns), container) == "waiting":
            complete = False
            continue
        for line in cluster.pod_log(ns, pod_name, container, follow=follow):
            echo(f"[{task}/{step}] {line}")
    return complete or follow


def _state(pod: Mapping[str, Any], container: str) -> str:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == container:
            state = status.get("state") or {}
            return "terminated" if "terminated" in state else ("running" if "running" in state else "waiting")
    return "waiting"


def _wait_started(cluster: Cluster, pod: str, container: str, ns: str) -> str:
    """Wait until the container runs or ended; "never" when its pod ended without starting it."""
    _, obj = cluster.wait_for(
        POD,
        pod,
        lambda o: (
            _state(o, container) != "waiting"
            or (o.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        ),
        timeout_s=3600,
        namespace=ns,
    )
    state = _state(obj, container)
    return "never" if state == "waiting" else state
