"""Training through the Jupyter Notebook Validator Operator: a `NotebookValidationJob` runs the notebook.

`retrain train MODEL --executor notebook-validation-job` (inside the train step's pod, with the registry's
claim mounted at `--registry`) creates a NotebookValidationJob (mlops.mlops.dev/v1alpha1) that runs the
notebook from git in its own pod, waits for `.status.phase` Succeeded or Failed (bounded by the job's own
`spec.timeout` plus a grace for scheduling), then checks what the notebook wrote and registers it as a
candidate version, exactly as the local executor does.

The served model can never be overwritten by the notebook: the job's pod mounts only a scratch directory
of the claim (`subPath: .retrain-scratch/<job>`), at the mount path (`/mnt/models`) and with `MODEL_DIR`
(`/mnt/models/<model>`) that the platform's notebooks write to. An unmodified notebook that writes
`<models>/<name>/model.pkl` therefore writes into the scratch directory; the registry (`<model>/versions/`,
`aliases.json`, the served `<model>/model.pkl`) is not visible to it at all. The scratch directory is
removed once the version is registered (or the job failed).
"""

from __future__ import annotations

import re
import secrets
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrain.cluster.client import NOTEBOOKJOB, Cluster
from retrain.errors import InvalidInput, Location, RunFailed, TemporaryError
from retrain.registry import NewVersionMetadata, Registry, VersionInfo
from retrain.registry.layout import check_model_name

if TYPE_CHECKING:
    from retrain.data.contracts import FeatureContract

SCRATCH = ".retrain-scratch"
DONE = ("Succeeded", "Failed")
GIT_URL = re.compile(r"^((https?|git|ssh)://|git@).+$")
DEFAULT_IMAGE = "quay.io/retrain/retrain:0.1.0"


@dataclass(frozen=True)
class NotebookJobRequest:
    model: str
    notebook_path: str  # inside the git repository, ending in .ipynb
    git_url: str
    git_ref: str = "main"
    git_secret: str | None = None  # a Secret with the git credentials
    image: str = DEFAULT_IMAGE
    claim: str = "model-storage"
    mount_path: str = "/mnt/models"
    service_account: str | None = None
    timeout_s: float = 3600.0
    grace_s: float = 300.0  # beyond the job's own timeout: scheduling, image pull, clone
    env: Mapping[str, str] = field(default_factory=dict)  # the notebook contract's variables
    run: str | None = None
    resources: Mapping[str, Mapping[str, str]] | None = None  # {"limits": {...}, "requests": {...}}
    node_selector: Mapping[str, str] | None = None
    tolerations: list[dict[str, Any]] | None = None
    # The site's additions to the job's pod (`pod_config`): env first (the request's own env wins), then
    # volumes and mounts after the scratch mount of the claim.
    extra_env: list[dict[str, Any]] = field(default_factory=list)
    extra_volumes: list[dict[str, Any]] = field(default_factory=list)
    extra_mounts: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class JobOutcome:
    job: str
    version: VersionInfo
    serving: int | None
    message: str


def check(req: NotebookJobRequest) -> None:
    check_model_name(req.model)
    if not req.notebook_path.endswith(".ipynb") or req.notebook_path.startswith("/"):
        raise InvalidInput(
            "--notebook-path must be the notebook's path inside the git repository, got "
            f"{req.notebook_path!r}",
            location=Location(field="--notebook-path"),
            hint="for example notebooks/anomaly-detector.ipynb",
        )
    if not GIT_URL.match(req.git_url):
        raise InvalidInput(
            f"--git-url must be an https://, git://, ssh:// or git@ URL, got {req.git_url!r}",
            location=Location(field="--git-url"),
            hint="the operator clones the notebook's repository; set --git-url (or "
            "$RETRAIN_NOTEBOOK_GIT_URL)",
        )
    if not req.timeout_s > 0:
        raise InvalidInput(
            f"--timeout must be positive, got {req.timeout_s:g}", location=Location(field="--timeout")
        )


def job_name(model: str, token: str) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", model.lower()).strip("-")[:40] or "model"
    return f"{base}-train-{token}"


def manifest(req: NotebookJobRequest, name: str, namespace: str) -> dict[str, Any]:
    """The NotebookValidationJob for `req` (pure): the claim mounted at a scratch subPath only."""
    model_dir = f"{req.mount_path.rstrip('/')}/{req.model}"
    env = {**req.env, "MODEL_NAME": req.model, "MODEL_DIR": model_dir}
    if req.run:
        env["RETRAIN_RUN_NAME"] = req.run
    extra_env = [e for e in req.extra_env if e["name"] not in env]
    pod: dict[str, Any] = {
        "containerImage": req.image,
        "env": [*extra_env, *({"name": k, "value": v} for k, v in sorted(env.items()))],
        "volumes": [
            {"name": "model-storage", "persistentVolumeClaim": {"claimName": req.claim}},
            *req.extra_volumes,
        ],
        "volumeMounts": [
            {"name": "model-storage", "mountPath": req.mount_path, "subPath": f"{SCRATCH}/{name}"},
            *req.extra_mounts,
        ],
    }
    if req.service_account:
        pod["serviceAccountName"] = req.service_account
    if req.resources:
        pod["resources"] = {k: dict(v) for k, v in req.resources.items()}
    if req.node_selector:
        pod["nodeSelector"] = dict(req.node_selector)
    if req.tolerations:
        pod["tolerations"] = list(req.tolerations)
    git: dict[str, Any] = {"url": req.git_url, "ref": req.git_ref}
    if req.git_secret:
        git["credentialsSecret"] = req.git_secret
    labels = {"app.kubernetes.io/managed-by": "retrain", "retrain.dev/model": req.model}
    if req.run:
        labels["retrain.dev/run"] = re.sub(r"[^A-Za-z0-9_.-]", "-", req.run)[:63]
    return {
        "apiVersion": "mlops.mlops.dev/v1alpha1",
        "kind": "NotebookValidationJob",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "notebook": {"git": git, "path": req.notebook_path},
            "podConfig": pod,
            "timeout": f"{max(1, int(req.timeout_s))}s",
        },
    }


def failure_detail(obj: Mapping[str, Any]) -> str:
    status = obj.get("status") or {}
    parts = [str(status.get("message") or "no message")]
    for cell in status.get("results") or []:
        if cell.get("status") == "Failure":
            said = cell.get("errorMessage") or cell.get("output") or ""
            parts.append(f"cell {cell.get('cellIndex')}: {said}".strip())
            break
    return "; ".join(parts)


def train_with_job(
    req: NotebookJobRequest,
    registry: Registry,
    cluster: Cluster,
    *,
    contract: FeatureContract | None = None,
    data_source: str | None = None,
    training_hours: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    token: str | None = None,
) -> JobOutcome:
    """Run the notebook as a NotebookValidationJob and register what it wrote as a candidate version."""
    check(req)
    name = job_name(req.model, token or secrets.token_hex(3))
    scratch = registry.root / SCRATCH / name
    scratch.mkdir(parents=True, exist_ok=False)
    scratch.chmod(0o777)  # the job's pod may run as another user (OpenShift assigns one per namespace)
    (scratch / req.model).mkdir()
    (scratch / req.model).chmod(0o777)
    try:
        cluster.create(NOTEBOOKJOB, manifest(req, name, cluster.namespace))
        reached, obj = cluster.wait_for(
            NOTEBOOKJOB,
            name,
            lambda o: (o.get("status") or {}).get("phase") in DONE,
            timeout_s=req.timeout_s + req.grace_s,
            clock=clock,
        )
        phase = (obj.get("status") or {}).get("phase")
        if not reached:
            raise TemporaryError(
                f"NotebookValidationJob {name} did not finish within {req.timeout_s + req.grace_s:g} s "
                f"(phase {phase or 'none'}: {failure_detail(obj)})",
                hint=f"inspect it: kubectl describe notebookvalidationjob {name} -n {cluster.namespace}",
            )
        if phase == "Failed":
            raise RunFailed(
                f"NotebookValidationJob {name} failed: {failure_detail(obj)}; nothing was registered",
                hint=f"its pod: {(obj.get('status') or {}).get('validationPodName') or '?'} (kubectl logs)",
            )
        version = _register(
            req,
            registry,
            scratch / req.model,
            name=name,
            obj=obj,
            contract=contract,
            data_source=data_source,
            training_hours=training_hours,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    serving = registry.aliases(req.model).get("serving")
    return JobOutcome(name, version, serving, str((obj.get("status") or {}).get("message") or ""))


def _register(
    req: NotebookJobRequest,
    registry: Registry,
    model_dir: Path,
    *,
    name: str,
    obj: Mapping[str, Any],
    contract: FeatureContract | None,
    data_source: str | None,
    training_hours: float | None,
) -> VersionInfo:
    from retrain.training.validate import read_outputs

    notebook = Path(req.notebook_path)
    outputs = read_outputs(model_dir, notebook=notebook, contract=contract)
    meta = NewVersionMetadata(
        trainer=outputs.training.get("trainer") or f"notebook-validation-job:{notebook.name}",
        notebook_path=notebook,
        data_source_requested=data_source,
        training_hours=training_hours,
        feature_contract=outputs.contract.to_json() if outputs.contract is not None else None,
        metrics=dict(outputs.metrics),
        run=req.run,
        extra={
            "executor": "notebook-validation-job",
            "notebook_validation_job": name,
            "git": {"url": req.git_url, "ref": req.git_ref, "path": req.notebook_path},
            "validation_pod": (obj.get("status") or {}).get("validationPodName"),
            **({"reference": outputs.training["reference"]} if "reference" in outputs.training else {}),
        },
    )
    return registry.register(req.model, outputs.artefact, meta)
