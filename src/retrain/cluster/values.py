"""Site values: everything `retrain cluster render` needs to know about one cluster installation.

Read from a YAML file (camelCase keys, unknown keys rejected with "did you mean", every error with file:line
and the field path) or taken as defaults. pydantic lives only here, at the edge; the renderers read the
frozen models. Cross-field rules (a schedule names a known model, a notebook sits under the watched path)
are checked after the shape, with the same file:line reporting.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic.alias_generators import to_camel

from retrain import __version__
from retrain.cluster.yamlsource import load_yaml_file, raise_all
from retrain.errors import InvalidInput, Location
from retrain.tekton.loader import SourceMap
from retrain.tekton.problems import format_field_path, validation_problems

__all__ = ["DEFAULT_IMAGE", "ModelValues", "Schedule", "SiteValues", "load_values"]

DEFAULT_IMAGE = f"quay.io/retrain/retrain:{__version__}"
BUILTIN_MODELS = {"anomaly-detector": (False, 168), "predictive-analytics": (True, 720)}

# A DNS-1123 label short enough that "<name>-<suffix>" objects stay under 63 characters.
Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=40)]
Namespace = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)]
Quantity = Annotated[str, StringConstraints(pattern=r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|Pi|M|G|T|P)?$")]
Duration = Annotated[str, StringConstraints(pattern=r"^([0-9]+(ms|s|m|h|d|w|y))+$")]
# Paths and URLs end up inside CEL strings and shell-free YAML; no quotes, spaces or backslashes.
SafePath = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._/@+-]*$")]
Url = Annotated[str, StringConstraints(pattern=r"^(https?://[^\s'\"\\]+)?$")]
Cron = Annotated[
    str, StringConstraints(pattern=r"^(@(yearly|annually|monthly|weekly|daily|hourly)|(\S+\s+){4}\S+)$")
]
AccessMode = Literal["ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany", "ReadWriteOncePod"]
Predictor = Literal["sklearn", "retrain"]
_RWX: tuple[AccessMode, ...] = ("ReadWriteMany",)


class _Values(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, strict=True
    )


class Volume(_Values):
    claim_name: Name
    storage_class: str | None = None  # None: the cluster's default StorageClass
    size: Quantity = "10Gi"
    access_modes: list[AccessMode] = Field(default_factory=lambda: list(_RWX), min_length=1)


class NotebookCheckout(_Values):
    """An existing claim that holds a checkout of the notebooks repository (bound as `source`)."""

    claim_name: Name
    sub_path: SafePath = ""


class Storage(_Values):
    model_storage: Volume = Volume(claim_name="model-storage")
    # Set when GPU nodes cannot mount model-storage: the GPU pipeline copies to it and back.
    gpu_storage: Volume | None = None
    notebooks: NotebookCheckout | None = None


class Resources(_Values):
    requests: dict[str, Quantity] = Field(default_factory=dict)
    limits: dict[str, Quantity] = Field(default_factory=dict)


class Toleration(_Values):
    key: str | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


class Gpu(_Values):
    resources: Resources | None = None  # None: the catalog's requests for the train step
    node_selector: dict[str, str] = Field(default_factory=lambda: {"nvidia.com/gpu.present": "true"})
    tolerations: list[Toleration] = Field(
        default_factory=lambda: [Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")]
    )


class Prometheus(_Values):
    url: Url = "https://thanos-querier.openshift-monitoring.svc.cluster.local:9091"
    token_secret: Name | None = "retrain-prometheus-token"  # noqa: S105 - a Secret name
    token_key: str = "token"  # noqa: S105 - the key in that Secret
    ca_file: SafePath | None = "/var/run/secrets/kubernetes.io/serviceaccount/service-ca.crt"


class Pushgateway(_Values):
    # Empty: the Pushgateway in the site's namespace (`pushgateway`, port 9091); docs/cluster.md installs it.
    url: Url = ""


PUSHGATEWAY_SERVICE = "pushgateway"
STALE_AFTER_S = 3 * 3600  # ModelDriftCheckStale fires when a model's gauges are older than this


class Drift(_Values):
    # The ModelDrift rule itself mirrors deploy/prometheus/retrain-drift-rules.yaml (threshold: a metric).
    repeat_interval: Duration = "12h"
    alertmanager_config: bool = True
    # How often the per-model CronJob runs `retrain drift check`: a duration that divides an hour or a
    # day ("15m", "1h", "2h") or a cron expression; at most 3h apart, or ModelDriftCheckStale fires.
    check_every: str = "1h"
    check_hours: float = Field(default=24.0, gt=0)  # the live window each check compares
    checks: bool = True  # False: no drift CronJobs (the gauges come from elsewhere, e.g. `retrain serve`)


class HealthCheck(_Values):
    """The model-health-check-pipeline of every model, on a schedule (an explicit `health-check` schedule
    of a model replaces its default one)."""

    enabled: bool = True
    cron: Cron = "30 6 * * *"  # daily, models an hour apart from 06:30


class Webhook(_Values):
    secret_name: Name = "retrain-github-webhook"  # noqa: S105 - a Secret name
    secret_key: str = "secret"  # noqa: S105 - the key in that Secret
    branch: SafePath = "main"
    notebooks_path: SafePath = "notebooks/"


class Triggers(_Values):
    replicas: int = Field(default=1, ge=1)


class CronValues(_Values):
    image: str = "image-registry.openshift-image-registry.svc:5000/openshift/cli:latest"
    time_zone: str = "Etc/UTC"
    successful_jobs_history_limit: int = Field(default=3, ge=0)
    failed_jobs_history_limit: int = Field(default=3, ge=0)


class KServe(_Values):
    deployment_mode: Literal["RawDeployment", "Serverless"] = "RawDeployment"
    predictor: Predictor = "sklearn"
    restart_pods: bool = False  # grants pods delete for `retrain deploy --restart-pods`


class NotebookRepository(_Values):
    """Where a NotebookValidationJob clones the notebooks from (the operator reads them from git only)."""

    url: Annotated[str, StringConstraints(pattern=r"^(((https?|git|ssh)://|git@)[^\s'\"\\]+)?$")] = ""
    ref: SafePath = "main"
    credentials_secret: Name | None = None  # a Secret with the git credentials, for a private repository


class Training(_Values):
    # papermill: the train step runs the notebook itself; notebook-validation-job: the train step creates a
    # NotebookValidationJob (Jupyter Notebook Validator Operator), waits for it and registers what it wrote.
    executor: Literal["papermill", "notebook-validation-job"] = "papermill"
    notebook_validation_jobs: bool = False  # grants the NotebookValidationJob verbs (implied by the executor)
    git: NotebookRepository = NotebookRepository()

    @property
    def uses_jobs(self) -> bool:
        return self.notebook_validation_jobs or self.executor == "notebook-validation-job"


class Rbac(_Values):
    # OpenShift: the SCC the TaskRun pods run under (OpenShift Pipelines' own); None on plain Kubernetes.
    scc_cluster_role: str | None = "system:openshift:scc:pipelines-scc"


class Replicas(_Values):
    min: int = Field(default=1, ge=0)
    max: int = Field(default=1, ge=1)


class ModelValues(_Values):
    name: Name
    notebook: SafePath = ""  # repository path of a custom notebook; empty: the built-in one
    gpu: bool = False
    inference_service: Name | None = None
    predictor: Predictor | None = None  # None: kserve.predictor
    serving_version: int | None = Field(default=None, ge=1)
    training_hours: int = Field(default=168, gt=0)
    data_source: Literal["synthetic", "prometheus", "hybrid"] = "hybrid"
    health_check: bool = True
    replicas: Replicas = Replicas()
    resources: Resources = Resources(requests={"cpu": "100m", "memory": "512Mi"}, limits={"memory": "1Gi"})

    @property
    def service(self) -> str:
        return self.inference_service or self.name


class Schedule(_Values):
    name: Name
    model: Name
    pipeline: Literal["training", "health-check"] = "training"
    cron: Cron
    training_hours: int | None = Field(default=None, gt=0)
    data_source: Literal["synthetic", "prometheus", "hybrid"] | None = None


def _builtin_models() -> list[ModelValues]:
    return [ModelValues(name=n, gpu=gpu, training_hours=h) for n, (gpu, h) in BUILTIN_MODELS.items()]


class SiteValues(_Values):
    namespace: Namespace | None = None
    image: str = DEFAULT_IMAGE
    storage: Storage = Storage()
    gpu: Gpu = Gpu()
    prometheus: Prometheus = Prometheus()
    pushgateway: Pushgateway = Pushgateway()
    drift: Drift = Drift()
    health_check: HealthCheck = HealthCheck()
    webhook: Webhook = Webhook()
    triggers: Triggers = Triggers()
    cron: CronValues = CronValues()
    kserve: KServe = KServe()
    training: Training = Training()
    rbac: Rbac = Rbac()
    models: list[ModelValues] = Field(default_factory=_builtin_models, min_length=1)
    # None: one weekly training per model, Sundays from 02:00, an hour apart (the platform's schedule).
    schedules: list[Schedule] | None = None

    @property
    def ns(self) -> str:
        if self.namespace is None:
            raise InvalidInput("no namespace", hint="give --namespace NS or `namespace:` in the values file")
        return self.namespace

    @property
    def pushgateway_url(self) -> str:
        return self.pushgateway.url or f"http://{PUSHGATEWAY_SERVICE}.{self.ns}.svc.cluster.local:9091"

    def all_schedules(self) -> list[Schedule]:
        """The training schedules (given, or weekly per model) and a health check for every model."""
        given = self.schedules
        if given is None:
            given = [
                Schedule(name=f"weekly-{m.name}", model=m.name, cron=f"0 {(2 + i) % 24} * * 0")
                for i, m in enumerate(self.models)
            ]
        return [*given, *self.default_health_checks()]

    def default_health_checks(self) -> list[Schedule]:
        if not self.health_check.enabled:
            return []
        covered = {s.model for s in self.schedules or [] if s.pipeline == "health-check"}
        minute, hour = _cron_minute_hour(self.health_check.cron)
        out: list[Schedule] = []
        for i, m in enumerate(self.models):
            if m.name in covered:
                continue
            cron = self.health_check.cron
            if hour is not None:  # stagger the models an hour apart, like the weekly trainings
                cron = " ".join([minute, str((hour + i) % 24), *cron.split()[2:]])
            out.append(
                Schedule(name=f"health-check-{m.name}", model=m.name, pipeline="health-check", cron=cron)
            )
        return out

    def drift_cron(self) -> str:
        return drift_check_cron(self.drift.check_every)

    def predictor_of(self, model: ModelValues) -> Predictor:
        return model.predictor or self.kserve.predictor


def _cron_minute_hour(cron: str) -> tuple[str, int | None]:
    fields = cron.split()
    if len(fields) == 5 and fields[1].isdigit():
        return fields[0], int(fields[1])
    return cron, None


def drift_check_cron(every: str) -> str:
    """A cron expression for `drift.checkEvery`: itself when it is one, else the duration as a cron."""
    if re.fullmatch(r"(\S+\s+){4}\S+", every.strip()):
        return every.strip()
    match = re.fullmatch(r"([0-9]+)(m|h)", every)
    fix = 'give a duration that divides an hour or a day ("15m", "1h", "3h") or a cron expression'
    if match is None:
        raise InvalidInput(
            f"drift.checkEvery {every!r} is neither a duration nor a cron expression", hint=fix
        )
    n, unit = int(match.group(1)), match.group(2)
    minutes = n if unit == "m" else n * 60
    if minutes <= 0 or minutes * 60 > STALE_AFTER_S:
        raise InvalidInput(
            f"drift.checkEvery {every!r}: checks further apart than 3h make ModelDriftCheckStale fire",
            hint="check at least every 3h",
        )
    if minutes < 60 and 60 % minutes == 0:
        return f"*/{minutes} * * * *"
    if minutes % 60 == 0 and 24 % (minutes // 60) == 0:
        hours = minutes // 60
        return "7 * * * *" if hours == 1 else f"7 */{hours} * * *"
    raise InvalidInput(f"drift.checkEvery {every!r} does not divide an hour or a day", hint=fix)


def _cross_checks(values: SiteValues, source: SourceMap) -> list[InvalidInput]:
    """Rules between fields, each reported where the offending value is."""

    def at(*path: str | int) -> Location:
        return source.location(format_field_path(path))

    problems: list[InvalidInput] = []
    names = [m.name for m in values.models]
    for i, model in enumerate(values.models):
        if names.index(model.name) != i:
            problems.append(InvalidInput(f"model {model.name!r} is listed twice", location=at("models", i)))
        prefix = values.webhook.notebooks_path
        if model.notebook and not model.notebook.startswith(prefix):
            problems.append(
                InvalidInput(
                    f"notebook {model.notebook!r} is not under webhook.notebooksPath {prefix!r}",
                    location=at("models", i, "notebook"),
                    hint="the git-push trigger only watches notebooks under that path; move it or change it",
                )
            )
        if model.replicas.min > model.replicas.max:
            problems.append(
                InvalidInput("replicas.min is above replicas.max", location=at("models", i, "replicas"))
            )
    seen: set[str] = set()
    for i, schedule in enumerate(values.schedules or []):
        if schedule.model not in names:
            problems.append(
                InvalidInput(
                    f"schedule {schedule.name!r} names unknown model {schedule.model!r}",
                    location=at("schedules", i, "model"),
                    hint="models: " + ", ".join(names),
                )
            )
        if schedule.name in seen:
            problems.append(
                InvalidInput(f"schedule {schedule.name!r} is listed twice", location=at("schedules", i))
            )
        seen.add(schedule.name)
    if values.drift.checks:
        try:
            drift_check_cron(values.drift.check_every)
        except InvalidInput as exc:
            problems.append(InvalidInput(exc.message, location=at("drift", "checkEvery"), hint=exc.hint))
    generated = {s.name for s in values.default_health_checks()}
    for i, schedule in enumerate(values.schedules or []):
        if schedule.name in generated:
            problems.append(
                InvalidInput(
                    f"schedule {schedule.name!r} has the name of a default health-check schedule",
                    location=at("schedules", i, "name"),
                    hint="rename it, or make it the model's health-check schedule (pipeline: health-check)",
                )
            )
    if values.training.executor == "notebook-validation-job" and not values.training.git.url:
        problems.append(
            InvalidInput(
                "training.executor notebook-validation-job needs training.git.url",
                location=at("training", "executor"),
                hint="the operator clones the notebooks from git: set training.git.url (and .ref) to the "
                "repository that holds src/retrain/catalog/notebooks and the models' notebooks",
            )
        )
    gpu = values.storage.gpu_storage
    if gpu is not None and gpu.claim_name == values.storage.model_storage.claim_name:
        problems.append(
            InvalidInput(
                "storage.gpuStorage uses the same claim as storage.modelStorage",
                location=at("storage", "gpuStorage", "claimName"),
                hint="leave gpuStorage out when GPU nodes can mount model-storage",
            )
        )
    return problems


def parse_values(data: Any, source: SourceMap) -> SiteValues:
    """Validate already-loaded values data; every problem is reported together."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidInput("site values must be a mapping", location=Location(source.file, 1))
    try:
        values = SiteValues.model_validate(data)
    except ValidationError as exc:
        raise_all(validation_problems(exc, data, SiteValues, source))
        raise  # unreachable: validation_problems reports at least one problem
    raise_all(_cross_checks(values, source))
    return values


def load_values(
    path: Path | None, *, namespace: str | None = None, require_namespace: bool = True
) -> SiteValues:
    """Values from `path` (or the defaults), with `namespace` (from --namespace) taking precedence."""
    if path is None:
        values = SiteValues()
    else:
        docs = load_yaml_file(path)
        if len(docs) > 1:
            raise InvalidInput(
                "site values must be one YAML document", location=Location(str(path), docs[1].line)
            )
        values = parse_values(
            docs[0].data if docs else None, docs[0].source if docs else SourceMap(str(path))
        )
    if namespace is not None:
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", namespace) or len(namespace) > 63:
            raise InvalidInput(
                f"namespace {namespace!r} is not a DNS-1123 label",
                location=Location(field="--namespace"),
                hint="lower-case letters, digits and '-', at most 63 characters",
            )
        values = values.model_copy(update={"namespace": namespace})
    if values.namespace is None and require_namespace:
        raise InvalidInput("no namespace", hint="give --namespace NS or `namespace:` in the values file")
    return values
