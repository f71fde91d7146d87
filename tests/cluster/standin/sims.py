"""Simulated controllers for the stand-in: Tekton, the kubelet's logs, KServe, the notebook operator.

Each writes only what its real counterpart writes (status through the status subresource, TaskRuns and
Pods with Tekton's labels, pods with KServe's labels), through the same validating store.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .server import StandIn
from .store import now

TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"


def cond(kind: str, status: str, reason: str, message: str = "") -> dict[str, Any]:
    return {"type": kind, "status": status, "reason": reason, "message": message, "lastTransitionTime": now()}


@dataclass
class Step:
    name: str
    lines: Sequence[str]
    exit_code: int = 0


@dataclass
class TaskScript:
    task: str
    steps: Sequence[Step]


@dataclass
class TektonSim:
    """Runs a PipelineRun's TaskRuns as scripted: pods, step containers, log lines, conditions."""

    standin: StandIn
    gap_s: float = 0.0  # between log lines (lets a follower see a run in progress)
    hold: threading.Event | None = None  # a run waits for it before its first step
    cancelled: set[str] = field(default_factory=set)
    threads: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.standin.on_change("pipelineruns", self._reconcile)

    def _reconcile(self, event: str, obj: dict[str, Any]) -> None:
        spec_status = (obj.get("spec") or {}).get("status")
        if spec_status and spec_status != "PipelineRunPending":
            self.cancelled.add(obj["metadata"]["name"])

    def run(self, name: str, tasks: Sequence[TaskScript]) -> threading.Thread:
        thread = threading.Thread(target=self._run, args=(name, tasks), daemon=True)
        thread.start()
        self.threads.append(thread)
        return thread

    def _run(self, name: str, tasks: Sequence[TaskScript]) -> None:
        s, ns = self.standin, self.standin.namespace
        started = now()
        s.set_status(
            "pipelineruns",
            name,
            {
                "startTime": started,
                "conditions": [
                    cond(
                        "Succeeded",
                        UNKNOWN,
                        "Running",
                        "Tasks Completed: 0 (Failed: 0, Cancelled 0), Incomplete: 1, Skipped: 0",
                    )
                ],
            },
        )
        if self.hold is not None:
            self.hold.wait(30)
        children: list[dict[str, Any]] = []
        failed = None
        for script in tasks:
            if name in self.cancelled or failed:
                break
            tr = f"{name}-{script.task}"
            pod = f"{tr}-pod"
            labels = {
                "tekton.dev/pipelineRun": name,
                "tekton.dev/pipelineTask": script.task,
                "tekton.dev/taskRun": tr,
            }
            s.put(
                "taskruns",
                {
                    "apiVersion": "tekton.dev/v1",
                    "kind": "TaskRun",
                    "metadata": {"name": tr, "labels": labels},
                    "spec": {
                        "taskSpec": {
                            "steps": [
                                {"name": st.name, "image": "busybox", "script": "true"} for st in script.steps
                            ]
                        }
                    },
                },
            )
            children.append(
                {
                    "apiVersion": "tekton.dev/v1",
                    "kind": "TaskRun",
                    "name": tr,
                    "pipelineTaskName": script.task,
                }
            )
            running = cond("Succeeded", UNKNOWN, "Running", f"Tasks Completed: {len(children) - 1}")
            s.set_status(
                "pipelineruns",
                name,
                {"startTime": started, "conditions": [running], "childReferences": children},
            )
            containers = [{"name": f"step-{st.name}", "image": "busybox"} for st in script.steps]
            s.put(
                "pods",
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": pod, "labels": labels},
                    "spec": {"containers": containers, "restartPolicy": "Never"},
                },
            )
            waiting = [
                {
                    "name": c["name"],
                    "ready": False,
                    "restartCount": 0,
                    "image": "busybox",
                    "imageID": "",
                    "state": {"waiting": {"reason": "PodInitializing"}},
                }
                for c in containers
            ]
            s.set_status("pods", pod, {"phase": "Pending", "containerStatuses": waiting})
            tr_started = now()
            s.set_status(
                "taskruns",
                tr,
                {
                    "podName": pod,
                    "startTime": tr_started,
                    "conditions": [cond("Succeeded", UNKNOWN, "Running")],
                    "steps": [{"name": st.name, "container": f"step-{st.name}"} for st in script.steps],
                },
            )
            st_status: list[dict[str, Any]] = [dict(w) for w in waiting]
            for i, st in enumerate(script.steps):
                if name in self.cancelled:
                    break
                st_status[i]["state"] = {"running": {"startedAt": now()}}
                s.set_status("pods", pod, {"phase": "Running", "containerStatuses": st_status})
                for line in st.lines:
                    s.logs.write(ns, pod, f"step-{st.name}", line)
                    if self.gap_s:
                        threading.Event().wait(self.gap_s)
                st_status[i]["state"] = {
                    "terminated": {
                        "exitCode": st.exit_code,
                        "reason": "Completed" if st.exit_code == 0 else "Error",
                        "startedAt": now(),
                        "finishedAt": now(),
                    }
                }
                s.logs.close(ns, pod, f"step-{st.name}")
                if st.exit_code:
                    failed = f'"step-{st.name}" exited with code {st.exit_code}'
                    break
            for j in range(len(script.steps)):  # steps that never ran end too, as Tekton's entrypoint does
                if "waiting" in st_status[j]["state"]:
                    st_status[j]["state"] = {
                        "terminated": {
                            "exitCode": 1,
                            "reason": "Error",
                            "startedAt": now(),
                            "finishedAt": now(),
                        }
                    }
                s.logs.close(ns, pod, f"step-{script.steps[j].name}")
            ok = not failed and name not in self.cancelled
            s.set_status(
                "pods", pod, {"phase": "Succeeded" if ok else "Failed", "containerStatuses": st_status}
            )
            reason = "Succeeded" if ok else ("TaskRunCancelled" if name in self.cancelled else "Failed")
            s.set_status(
                "taskruns",
                tr,
                {
                    "podName": pod,
                    "startTime": tr_started,
                    "completionTime": now(),
                    "conditions": [cond("Succeeded", TRUE if ok else FALSE, reason, failed or "")],
                },
            )
        if name in self.cancelled:
            final = cond("Succeeded", FALSE, "Cancelled", f'PipelineRun "{name}" was cancelled')
        elif failed:
            final = cond(
                "Succeeded",
                FALSE,
                "Failed",
                f"Tasks Completed: {len(children)} (Failed: 1, Cancelled 0), Skipped: 0",
            )
        else:
            final = cond(
                "Succeeded",
                TRUE,
                "Succeeded",
                f"Tasks Completed: {len(children)} (Failed: 0, Cancelled 0), Skipped: 0",
            )
        s.set_status(
            "pipelineruns",
            name,
            {
                "startTime": started,
                "completionTime": now(),
                "conditions": [final],
                "childReferences": children,
            },
        )


def ready_pod_status(containers: Sequence[str], *, ready: bool, ip: str = "10.0.0.1") -> dict[str, Any]:
    statuses = [
        {
            "name": c,
            "ready": ready,
            "restartCount": 0,
            "image": "img",
            "imageID": "",
            "started": True,
            "state": {"running": {"startedAt": now()}},
        }
        for c in containers
    ]
    conditions = [
        cond("PodScheduled", TRUE, ""),
        cond("ContainersReady", TRUE if ready else FALSE, ""),
        cond("Ready", TRUE if ready else FALSE, "" if ready else "ContainersNotReady"),
    ]
    for c in conditions:
        c.pop("reason") if not c["reason"] else None
        c.pop("message")
    return {"phase": "Running", "podIP": ip, "conditions": conditions, "containerStatuses": statuses}


Predictor = Callable[[str], tuple[str, Callable[[], None]]]  # model dir -> (url, stop)


@dataclass
class KServeSim:
    """KServe's controller for InferenceServices with a pvc:// storageUri, in serverless mode.

    Each new generation makes a revision `<name>-predictor-0000N`: a predictor (a stand-in for KServe's
    sklearn server, reading the model once at start) on the directory the storageUri names on the claim
    (`claims` maps claim -> host directory), one Ready pod, traffic 100% on it, Ready=True. A storageUri in
    `never` gets a revision that never becomes Ready (the old one keeps serving); one in `swap` is served
    from another directory (a predictor that serves the wrong model). A deleted predictor pod is replaced by
    a new pod that is Running but not Ready until `pod_gate` is set; then its predictor restarts (reading
    the model again) and the pod becomes Ready.
    """

    standin: StandIn
    claims: dict[str, Any]
    never: set[str] = field(default_factory=set)
    swap: dict[str, str] = field(default_factory=dict)
    pod_gate: threading.Event | None = None
    servers: dict[str, Any] = field(default_factory=dict)  # revision -> BackgroundServer
    revisions: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.standin.on_change("inferenceservices", self._isvc)
        self.standin.on_change("pods", self._pod)

    def close(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.servers.clear()

    def _dir(self, uri: str) -> Any:
        from pathlib import Path

        uri = self.swap.get(uri, uri)
        claim, _, rest = uri.removeprefix("pvc://").partition("/")
        return Path(self.claims[claim]) / rest

    def _start(self, name: str, uri: str) -> Any:
        from retrain.serving import BackgroundServer

        from .predictor import StockPredictor

        return BackgroundServer(StockPredictor(name, self._dir(uri))).start()

    def _isvc(self, event: str, obj: dict[str, Any]) -> None:
        if event == "DELETED":
            return
        name, gen = obj["metadata"]["name"], int(obj["metadata"]["generation"])
        status = dict(obj.get("status") or {})
        if int(status.get("observedGeneration") or 0) >= gen:
            return
        uri = next(
            v["storageUri"]
            for v in obj["spec"]["predictor"].values()
            if isinstance(v, dict) and "storageUri" in v
        )
        with self.lock:
            self.revisions[name] = self.revisions.get(name, 0) + 1
            rev = f"{name}-predictor-{self.revisions[name]:05d}"
        pred = dict((status.get("components") or {}).get("predictor") or {})
        old = pred.get("latestReadyRevision")
        if uri in self.never:
            pred["latestCreatedRevision"] = rev
            ready = cond(
                "Ready",
                FALSE,
                "RevisionMissing",
                f'Revision "{rev}" failed with message: container "kserve-container" exited with code 1 '
                "(model load failed).",
            )
            self.standin.set_status(
                "inferenceservices",
                name,
                {
                    **status,
                    "observedGeneration": gen,
                    "conditions": [cond("PredictorReady", FALSE, "RevisionMissing"), ready],
                    "components": {"predictor": pred},
                },
            )
            return
        server = self._start(name, uri)
        self.servers[rev] = server
        self.standin.put(
            "pods",
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{rev}-deployment-1",
                    "labels": {
                        "serving.kserve.io/inferenceservice": name,
                        "component": "predictor",
                        "serving.knative.dev/revision": rev,
                    },
                },
                "spec": {"containers": [{"name": "kserve-container", "image": "kserve/sklearnserver"}]},
            },
        )
        self.standin.set_status(
            "pods", f"{rev}-deployment-1", ready_pod_status(["kserve-container"], ready=True)
        )
        pred = {
            "latestCreatedRevision": rev,
            "latestReadyRevision": rev,
            "latestRolledoutRevision": rev,
            "traffic": [{"revisionName": rev, "percent": 100, "latestRevision": True}],
        }
        if old:
            pred["previousRolledoutRevision"] = old
        ok = [cond("IngressReady", TRUE, ""), cond("PredictorReady", TRUE, ""), cond("Ready", TRUE, "")]
        self.standin.set_status(
            "inferenceservices",
            name,
            {
                "observedGeneration": gen,
                "url": server.url,
                "address": {"url": server.url},
                "conditions": ok,
                "components": {"predictor": pred},
                "modelStatus": {"transitionStatus": "UpToDate"},
            },
        )
        for pod in self.standin.items("pods"):
            if pod["metadata"]["labels"].get("serving.knative.dev/revision") == old:
                self.standin.store.delete(
                    self.standin.kind("pods"), self.standin.namespace, pod["metadata"]["name"]
                )
        if old in self.servers:
            self.servers.pop(old).stop()

    def _pod(self, event: str, obj: dict[str, Any]) -> None:
        labels = obj["metadata"].get("labels") or {}
        name, rev = (
            labels.get("serving.kserve.io/inferenceservice"),
            labels.get("serving.knative.dev/revision"),
        )
        if event != "DELETED" or not name or rev not in self.servers:
            return
        isvc = self.standin.find("inferenceservices", name)
        if (
            isvc is None
            or (isvc.get("status") or {})
            .get("components", {})
            .get("predictor", {})
            .get("latestReadyRevision")
            != rev
        ):
            return  # a pod of an old revision, gone with it
        pod = f"{rev}-deployment-{obj['metadata']['uid'][-3:]}"
        self.standin.put(
            "pods",
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": pod, "labels": labels},
                "spec": {"containers": [{"name": "kserve-container", "image": "kserve/sklearnserver"}]},
            },
        )
        self.standin.set_status("pods", pod, ready_pod_status(["kserve-container"], ready=False))
        threading.Thread(target=self._restart, args=(name, rev, pod, isvc), daemon=True).start()

    def _restart(self, name: str, rev: str, pod: str, isvc: dict[str, Any]) -> None:
        if self.pod_gate is not None:
            self.pod_gate.wait(30)
        uri = next(
            v["storageUri"]
            for v in isvc["spec"]["predictor"].values()
            if isinstance(v, dict) and "storageUri" in v
        )
        server = self._start(name, uri)  # the stock server reads model.pkl again, at start-up only
        old, self.servers[rev] = self.servers.get(rev), server
        self.standin.set_status("pods", pod, ready_pod_status(["kserve-container"], ready=True))
        live = self.standin.get("inferenceservices", name)
        self.standin.set_status(
            "inferenceservices", name, {**live["status"], "url": server.url, "address": {"url": server.url}}
        )
        if old is not None:
            old.stop()


Notebook = Callable[[Any, dict[str, str]], None]  # (MODEL_DIR on the host, env) -> writes files or raises


@dataclass
class NotebookJobSim:
    """The Jupyter Notebook Validator Operator: runs `notebook` with the job's env and volume mounts mapped
    onto host directories (`claims`), then sets `.status.phase` Succeeded, or Failed with the failing cell."""

    standin: StandIn
    claims: dict[str, Any]
    notebook: Notebook
    seen: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.standin.on_change("notebookvalidationjobs", self._job)

    def host_path(self, job: dict[str, Any], container_path: str) -> Any:
        from pathlib import Path, PurePosixPath

        pod = job["spec"]["podConfig"]
        for mount in pod.get("volumeMounts") or []:
            base = PurePosixPath(mount["mountPath"])
            target = PurePosixPath(container_path)
            if target == base or base in target.parents:
                volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
                root = Path(self.claims[volume["persistentVolumeClaim"]["claimName"]]) / mount.get(
                    "subPath", ""
                )
                return root / target.relative_to(base)
        raise AssertionError(f"{container_path} is on no volume of the job")

    def _job(self, event: str, obj: dict[str, Any]) -> None:
        if event != "ADDED":
            return
        self.seen.append(obj)
        name = obj["metadata"]["name"]
        self.standin.set_status(
            "notebookvalidationjobs",
            name,
            {"phase": "Running", "startTime": now(), "validationPodName": f"{name}-validation"},
        )
        env = {e["name"]: e.get("value", "") for e in obj["spec"]["podConfig"].get("env") or []}
        try:
            self.notebook(self.host_path(obj, env["MODEL_DIR"]), env)
        except Exception as err:
            results = [{"cellIndex": 3, "status": "Failure", "errorMessage": f"{type(err).__name__}: {err}"}]
            status = {
                "phase": "Failed",
                "message": "Notebook execution failed",
                "results": results,
                "validationPodName": f"{name}-validation",
            }
        else:
            status = {
                "phase": "Succeeded",
                "message": "Notebook validation completed successfully",
                "validationPodName": f"{name}-validation",
                "completionTime": now(),
            }
        self.standin.set_status("notebookvalidationjobs", name, status)
