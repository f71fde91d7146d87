"""`--target kserve`: serve a registry version through a KServe InferenceService, verified, or not at all.

Three ways an InferenceService can serve the registry (chosen from its predictor):
- `storageUri` (KServe's sklearn runtime, `spec.predictor.model` or `spec.predictor.sklearn`): patch it to
  `pvc://<claim>/<root>/<model>/versions/<n>`, wait (bounded) until the InferenceService is Ready on a NEW
  revision (observedGeneration caught up, latestReadyRevision == latestCreatedRevision and changed, all
  traffic on it), then verify the endpoint;
- `restart_pods` (a stock server started with `--model_dir=<root>/<model>`, which reads `model.pkl` only at
  start-up): the registry's promotion rewrites that copy, the predictor pods are deleted, and deploy waits
  until NEW pods are Ready (the readiness probe passed: the model loaded), not merely Running;
- custom containers (the `retrain serve` image): the server follows the registry; it is told through its
  reload hook at the InferenceService's URL.

Every way ends with `retrain verify` against the InferenceService's URL. A stock KServe server does not say
which version it serves, so verify asks the control plane (`served_version`): the InferenceService is Ready,
its status reflects the current generation, the rollout is complete, and the version named by its
`retrain.dev/model-version` annotation and its storageUri. The answers must still equal the registry's own
predictions for that version, so a stale predictor cannot pass.

A deploy that fails (never Ready in time, or verify fails) is undone: the InferenceService is patched back,
the registry serves the previous version again, and the result says so (exit 1).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from retrain.cluster.apply import MODEL_VERSION_ANNOTATION, storage_uri_path
from retrain.cluster.client import INFERENCESERVICE, POD, Cluster, ClusterSettings, connect
from retrain.errors import Conflict, InvalidInput, Location, NotFound, RetrainError
from retrain.registry import Promotion, Registry
from retrain.registry.layout import SERVING
from retrain.serving.deployers import DeployResult, Notice, notify_local_server

MANAGER = "retrain-deploy"
LOCAL_DEFAULT_URL = "http://127.0.0.1:8080"  # the deploy CLI's default: not a KServe address
Mode = Literal["storage-uri", "restart-pods", "registry"]
FAILED_TRANSITIONS = ("BlockedByFailedLoad", "InvalidSpec")


@dataclass(frozen=True)
class KServeOptions:
    namespace: str | None = None
    restart_pods: bool = False
    rollout_timeout_s: float = 300.0
    verify_timeout_s: float = 60.0
    verify_rows: int = 32
    url: str = ""  # overrides the InferenceService's own address (e.g. through a port-forward)
    kubeconfig: str | None = None
    context: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KServeOptions:
        """RETRAIN_KSERVE_{NAMESPACE,RESTART_PODS,TIMEOUT,VERIFY_TIMEOUT,URL}, KUBECONFIG, "
        "RETRAIN_KUBE_CONTEXT."""
        env = os.environ if environ is None else environ

        def seconds(name: str, default: float) -> float:
            raw = env.get(name, "")
            try:
                return float(raw) if raw else default
            except ValueError:
                raise InvalidInput(
                    f"{name} must be a number of seconds, got {raw!r}", location=Location(field=name)
                ) from None

        return cls(
            namespace=env.get("RETRAIN_KSERVE_NAMESPACE") or None,
            restart_pods=env.get("RETRAIN_KSERVE_RESTART_PODS", "").lower() in ("1", "true", "yes"),
            rollout_timeout_s=seconds("RETRAIN_KSERVE_TIMEOUT", 300.0),
            verify_timeout_s=seconds("RETRAIN_KSERVE_VERIFY_TIMEOUT", 60.0),
            url=env.get("RETRAIN_KSERVE_URL", ""),
            kubeconfig=env.get("RETRAIN_KUBECONFIG") or None,
            context=env.get("RETRAIN_KUBE_CONTEXT") or None,
        )


def condition(obj: Mapping[str, Any], kind: str = "Ready") -> dict[str, Any]:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return {}


def _predictor(obj: Mapping[str, Any]) -> dict[str, Any]:
    return dict(((obj.get("status") or {}).get("components") or {}).get("predictor") or {})


def rolled_out(obj: Mapping[str, Any], generation: int, before: str | None) -> bool:
    """Ready on the spec of `generation`, on a revision other than `before` (when one was expected)."""
    status = obj.get("status") or {}
    if int(status.get("observedGeneration") or 0) < generation or condition(obj).get("status") != "True":
        return False
    pred = _predictor(obj)
    created, ready = pred.get("latestCreatedRevision"), pred.get("latestReadyRevision")
    if created is None:  # RawDeployment: no revisions; Ready on the observed generation is the signal
        return True
    if ready != created or (before is not None and ready == before):
        return False
    return all(
        t.get("revisionName") in (None, ready) or t.get("latestRevision")
        for t in pred.get("traffic") or []
        if int(t.get("percent") or 0) > 0
    )


def failed(obj: Mapping[str, Any], generation: int) -> str | None:
    """Why the rollout of `generation` can no longer succeed (KServe's model status), else None."""
    status = obj.get("status") or {}
    if int(status.get("observedGeneration") or 0) < generation:
        return None
    model = status.get("modelStatus") or {}
    if model.get("transitionStatus") in FAILED_TRANSITIONS:
        info = model.get("lastFailureInfo") or {}
        return f"{model['transitionStatus']}: {info.get('reason', '')} {info.get('message', '')}".strip()
    return None


def describe(obj: Mapping[str, Any]) -> str:
    """What the InferenceService's status says, for messages."""
    ready, pred = condition(obj), _predictor(obj)
    parts = [f"Ready={ready.get('status', 'Unknown')}"]
    if ready.get("reason") or ready.get("message"):
        parts.append(f"{ready.get('reason', '')}: {ready.get('message', '')}".strip(": "))
    if pred.get("latestCreatedRevision"):
        parts.append(
            f"latest created revision {pred['latestCreatedRevision']}, ready "
            f"{pred.get('latestReadyRevision')}"
        )
    return "; ".join(parts)


def version_in(uri: str) -> int | None:
    match = re.search(r"/versions/(\d+)/?$", uri)
    return int(match.group(1)) if match else None


def served_version_from(obj: Mapping[str, Any]) -> tuple[int | None, str]:
    """The version the InferenceService serves according to its control plane (None: it cannot say)."""
    name = obj["metadata"]["name"]
    gen, status = int(obj["metadata"].get("generation") or 0), obj.get("status") or {}
    if int(status.get("observedGeneration") or 0) < gen:
        return None, f"InferenceService {name} has not caught up with its spec (generation {gen})"
    if condition(obj).get("status") != "True":
        return None, f"InferenceService {name} is not Ready ({describe(obj)})"
    pred = _predictor(obj)
    if pred.get("latestCreatedRevision") and pred.get("latestReadyRevision") != pred.get(
        "latestCreatedRevision"
    ):
        return None, f"InferenceService {name} is still rolling out ({describe(obj)})"
    path = storage_uri_path(dict(obj))
    uri = str(obj["spec"]["predictor"][path[2]]["storageUri"]) if path else ""
    from_uri = version_in(uri)
    noted = (obj["metadata"].get("annotations") or {}).get(MODEL_VERSION_ANNOTATION)
    from_note = int(noted) if noted and str(noted).isdigit() else None
    if from_uri is not None and from_note is not None and from_uri != from_note:
        return (
            None,
            f"InferenceService {name}: storageUri {uri} and annotation {MODEL_VERSION_ANNOTATION}={noted} "
            "disagree",
        )
    version = from_uri if from_uri is not None else from_note
    if version is None:
        return (
            None,
            f"InferenceService {name} names no version (storageUri {uri or '-'}, no "
            f"{MODEL_VERSION_ANNOTATION})",
        )
    revision = pred.get("latestReadyRevision")
    return version, f"InferenceService {name} status" + (f" (revision {revision})" if revision else "")


def served_version(
    cluster: Cluster, name: str, namespace: str | None = None
) -> Callable[[], tuple[int | None, str]]:
    """For `verify_endpoint(served_version=...)`: ask the InferenceService each time."""
    return lambda: served_version_from(cluster.get(INFERENCESERVICE, name, namespace))


def endpoint_of(obj: Mapping[str, Any], override: str = "") -> str:
    status = obj.get("status") or {}
    url = override or ((status.get("address") or {}).get("url")) or status.get("url") or ""
    if not url:
        raise Conflict(
            f"InferenceService {obj['metadata']['name']} has no URL yet ({describe(obj)})",
            hint="wait until KServe has set status.url, or give RETRAIN_KSERVE_URL",
        )
    return str(url).rstrip("/")


def mode_of(obj: Mapping[str, Any], restart_pods: bool) -> Mode:
    if restart_pods:
        return "restart-pods"
    if storage_uri_path(dict(obj)) is not None:
        return "storage-uri"
    if (obj.get("spec") or {}).get("predictor", {}).get("containers"):
        return "registry"
    raise InvalidInput(
        f"InferenceService {obj['metadata']['name']} has neither a predictor storageUri nor containers",
        location=Location(field="spec.predictor"),
        hint="render it with `retrain cluster render` (sklearn storageUri or the retrain server image)",
    )


def uri_for(current: str, model: str, version: int) -> str:
    """The version directory's URI on the same claim and registry root as `current`."""
    match = re.match(rf"^(pvc://[^/]+/(?:.*/)?){re.escape(model)}(?:/versions/\d+)?/?$", current)
    if not match:
        raise InvalidInput(
            f"cannot tell where the registry is from storageUri {current!r}",
            location=Location(field="spec.predictor.*.storageUri"),
            hint=f"point it at pvc://<claim>/[<root>/]{model}/versions/<n> (or use --restart-pods)",
        )
    return f"{match.group(1)}{model}/versions/{version}"


@dataclass
class KServeDeployer:
    """The `Deployer` for `--target kserve` (see the module docstring)."""

    registry: Registry
    cluster_factory: Callable[[], Cluster]
    inference_service: str = ""
    options: KServeOptions = field(default_factory=KServeOptions)
    clock: Callable[[], float] = time.monotonic

    @property
    def target(self) -> str:
        return "kserve"

    def deploy(self, model: str, version: int, *, reason: str = "", run: str | None = None) -> DeployResult:
        with self.cluster_factory() as cluster:
            name, ns = self.inference_service or model, self.options.namespace or cluster.namespace
            live = cluster.get(INFERENCESERVICE, name, ns)
            mode = mode_of(live, self.options.restart_pods)
            why = reason or (f"deploy by run {run}" if run else "deploy")
            self.registry.get(model, version)  # NotFound before anything changes
            promotion = self.registry.promote(model, version, reason=why, run=run)
            replaced = promotion.event.previous if promotion.event is not None else version
            step = _Rollout(self, cluster, name, ns, model, mode)
            try:
                problem, notice = step.serve(live, version)
            except RetrainError as err:  # the API refused something half way: undo all the same
                problem, notice = str(err), Notice("unexpected", None, str(err))
            if problem is None:
                return self._result(
                    "deploy",
                    promotion,
                    replaced,
                    notice,
                    [
                        f"{model}: version {version} serves on InferenceService {name} in {ns} ({mode})",
                        notice.detail,
                    ],
                )
            undo = step.undo(live, promotion, run, problem)
            return replace(
                self._result(
                    "deploy",
                    promotion,
                    replaced,
                    notice,
                    [
                        f"{model}: deploy of version {version} to InferenceService {name} FAILED ({mode})",
                        problem,
                        *undo,
                    ],
                ),
                ok=False,
                version=self.registry.aliases(model).get(SERVING) or version,
                previous=self.registry.aliases(model).get("previous"),
            )

    def rollback(self, model: str, *, reason: str = "", run: str | None = None) -> DeployResult:
        with self.cluster_factory() as cluster:
            name, ns = self.inference_service or model, self.options.namespace or cluster.namespace
            live = cluster.get(INFERENCESERVICE, name, ns)
            mode = mode_of(live, self.options.restart_pods)
            promotion = self.registry.rollback(model, reason=reason or "rollback", run=run)
            replaced = promotion.event.previous if promotion.event is not None else None
            problem, notice = _Rollout(self, cluster, name, ns, model, mode).serve(live, promotion.serving)
            lines = [
                f"{model}: version {promotion.serving} serves again on InferenceService {name} in {ns} "
                f"({mode})"
            ]
            result = self._result("rollback", promotion, replaced, notice, [*lines, notice.detail])
            if problem is not None:
                return replace(
                    result, ok=False, messages=(*lines, f"but the endpoint is not healthy: {problem}")
                )
            return result

    def _result(
        self,
        action: Literal["deploy", "rollback"],
        promotion: Promotion,
        replaced: int | None,
        notice: Notice,
        messages: list[str],
    ) -> DeployResult:
        return DeployResult(
            action,
            promotion.model,
            promotion.serving,
            replaced,
            promotion.previous,
            promotion.changed,
            self.target,
            notice,
            messages=tuple(m for m in messages if m),
        )


@dataclass
class _Rollout:
    """One change of what an InferenceService serves, and its undoing."""

    deployer: KServeDeployer
    cluster: Cluster
    name: str
    ns: str
    model: str
    mode: Mode

    def serve(self, live: dict[str, Any], version: int) -> tuple[str | None, Notice]:
        """Make the InferenceService serve `version` and verify it: (problem or None, notice)."""
        opts = self.deployer.options
        try:
            if self.mode == "storage-uri":
                obj = self._patch_and_wait(live, version)
            elif self.mode == "restart-pods":
                obj = self._restart_and_wait(version)
            else:
                obj = self.cluster.get(INFERENCESERVICE, self.name, self.ns)
                told = notify_local_server(endpoint_of(obj, opts.url), self.model, version)
                if told.outcome not in ("serving", "unreachable"):
                    return told.detail, told
        except _NotReady as err:
            return str(err), Notice("refused", None, str(err))
        url = endpoint_of(obj, opts.url)
        report = self.verify(url, version)
        if not report.ok:
            return f"verify at {url}: {report.failure}: {report.reason}", Notice(
                "refused", url, str(report.reason)
            )
        return None, Notice("serving", url, f"verified at {url}: {len(report.checks)} checks passed", version)

    def verify(self, url: str, version: int) -> Any:
        from retrain.serving.verify import VerifyOptions, verify_endpoint

        opts = self.deployer.options
        return verify_endpoint(
            self.deployer.registry,
            self.model,
            url,
            version=version,
            inference_service=self.name,
            options=VerifyOptions(timeout_s=opts.verify_timeout_s, rows=opts.verify_rows),
            served_version=served_version(self.cluster, self.name, self.ns),
        )

    def _patch_and_wait(self, live: dict[str, Any], version: int) -> dict[str, Any]:
        path = storage_uri_path(live)
        assert path is not None
        current = str(live["spec"]["predictor"][path[2]]["storageUri"])
        patch = {
            "metadata": {"annotations": {MODEL_VERSION_ANNOTATION: str(version)}},
            "spec": {"predictor": {path[2]: {"storageUri": uri_for(current, self.model, version)}}},
        }
        return self._apply_and_wait(live, patch)

    def _apply_and_wait(self, live: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
        before_gen = int(live["metadata"].get("generation") or 0)
        before_rev = _predictor(live).get("latestReadyRevision")
        patched = self.cluster.patch(INFERENCESERVICE, self.name, patch, self.ns, manager=MANAGER)
        gen = int(patched["metadata"].get("generation") or 0)
        expect = before_rev if gen > before_gen else None
        timeout = self.deployer.options.rollout_timeout_s
        done, obj = self.cluster.wait_for(
            INFERENCESERVICE,
            self.name,
            lambda o: rolled_out(o, gen, expect) or failed(o, gen) is not None,
            timeout_s=timeout,
            namespace=self.ns,
            clock=self.deployer.clock,
        )
        why = failed(obj, gen) if done else None
        if not done or why:
            raise _NotReady(
                f"InferenceService {self.name} did not become Ready on a new revision within {timeout:g} s"
                + (f": {why}" if why else "")
                + f" ({describe(obj)})"
            )
        return obj

    def _restart_and_wait(self, version: int) -> dict[str, Any]:
        selector = f"serving.kserve.io/inferenceservice={self.name}"
        old = {
            p["metadata"]["name"] for p in self.cluster.list(POD, self.ns, labels=selector).get("items") or []
        }
        for pod in sorted(old):
            with contextlib.suppress(NotFound):  # gone already
                self.cluster.delete(POD, pod, self.ns)
        timeout = self.deployer.options.rollout_timeout_s
        if not self._wait_pods(selector, old, timeout):
            raise _NotReady(
                f"the predictor pods of InferenceService {self.name} were restarted, but no new pod became "
                "Ready "
                f"within {timeout:g} s (Running is not enough: Ready means the model loaded)"
            )
        patch = {"metadata": {"annotations": {MODEL_VERSION_ANNOTATION: str(version)}}}
        return self.cluster.patch(INFERENCESERVICE, self.name, patch, self.ns, manager=MANAGER)

    def _wait_pods(self, selector: str, old: set[str], timeout: float) -> bool:
        clock = self.deployer.clock
        deadline = clock() + timeout
        want = max(1, len(old))
        while True:
            listing = self.cluster.list(POD, self.ns, labels=selector)
            pods = [p for p in listing.get("items") or [] if not p["metadata"].get("deletionTimestamp")]
            fresh = [p for p in pods if p["metadata"]["name"] not in old]
            if len(fresh) >= want and len(fresh) == len(pods) and all(_pod_ready(p) for p in fresh):
                return True
            left = deadline - clock()
            if left <= 0:
                return False
            rv = str(listing.get("metadata", {}).get("resourceVersion") or "")
            for _ in self.cluster.watch(
                POD, self.ns, resource_version=rv, timeout_s=min(left, 5.0), labels=selector
            ):
                break

    def undo(self, live: dict[str, Any], promotion: Promotion, run: str | None, problem: str) -> list[str]:
        """Put back what served before: the InferenceService's spec and the registry's alias."""
        lines: list[str] = []
        registry = self.deployer.registry
        if (
            promotion.changed
            and promotion.previous is not None
            and registry.aliases(self.model).get(SERVING) == promotion.serving
        ):
            back = registry.rollback(self.model, reason=f"deploy undone: {problem}", run=run)
            lines.append(f"deploy undone: the registry serves version {back.serving} again")
        elif promotion.changed and promotion.previous is None:
            lines.append(f"no version served before: the registry still names version {promotion.serving}")
        try:
            if self.mode == "storage-uri":
                path = storage_uri_path(live)
                assert path is not None
                note = (live["metadata"].get("annotations") or {}).get(MODEL_VERSION_ANNOTATION)
                patch = {
                    "metadata": {"annotations": {MODEL_VERSION_ANNOTATION: note}},
                    "spec": {
                        "predictor": {
                            path[2]: {"storageUri": live["spec"]["predictor"][path[2]]["storageUri"]}
                        }
                    },
                }
                self._apply_and_wait(self.cluster.get(INFERENCESERVICE, self.name, self.ns), patch)
                lines.append(f"InferenceService {self.name} patched back and Ready on its previous model")
            elif self.mode == "restart-pods":
                self._restart_and_wait(registry.aliases(self.model).get(SERVING) or promotion.serving)
                lines.append(f"predictor pods of {self.name} restarted on the previous model")
        except _NotReady as err:
            lines.append(f"InferenceService {self.name} patched back, but: {err}")
        except RetrainError as err:
            lines.append(f"InferenceService {self.name} could not be put back: {err}")
        return lines


class _NotReady(Exception):
    pass


def _pod_ready(pod: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def kserve_deployer(
    registry: Registry, serving_url: str, inference_service: str, *, environ: Mapping[str, str] | None = None
) -> KServeDeployer:
    """What `retrain.app.deploy.deployer_for("kserve", ...)` builds (options from the environment)."""
    options = KServeOptions.from_env(environ)
    if serving_url and serving_url.rstrip("/") != LOCAL_DEFAULT_URL and not options.url:
        options = replace(options, url=serving_url)
    settings = ClusterSettings(
        kubeconfig=options.kubeconfig, context=options.context, namespace=options.namespace
    )
    return KServeDeployer(registry, lambda: connect(settings, environ=environ), inference_service, options)
