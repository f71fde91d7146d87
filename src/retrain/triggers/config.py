"""`retrain.yaml`: the service's one configuration file (pydantic at the edge), with env-var overrides for
secrets so that none has to be written into the file.

| env var                          | overrides             |
| -------------------------------- | --------------------- |
| `RETRAIN_API_TOKEN`              | `api.token`           |
| `RETRAIN_GITHUB_WEBHOOK_SECRET`  | `hooks.github.secret` |
| `RETRAIN_ALERTMANAGER_TOKEN`     | `hooks.alertmanager.token` |

Problems are reported all at once with file:line, the field path and "did you mean" for unknown keys.
Relative paths in the file (registry, home, notebook_path) are relative to the file's directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from retrain.app.requests import BUILTIN_GPU, TrainingRequest, Trigger, check_request
from retrain.errors import InvalidInput, InvalidInputs, Location
from retrain.tekton.loader import SourceMap
from retrain.tekton.problems import validation_problems

CONFIG_ENV = "RETRAIN_CONFIG"
SECRET_ENV = {
    "RETRAIN_API_TOKEN": ("api", "token"),
    "RETRAIN_GITHUB_WEBHOOK_SECRET": ("hooks", "github", "secret"),
    "RETRAIN_ALERTMANAGER_TOKEN": ("hooks", "alertmanager", "token"),
}
PolicyName = Literal["Allow", "Forbid", "Replace", "Queue"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _text(value: Any) -> Any:
    """YAML reads `168` as a number; the pipelines take it as a string param."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class ServerConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    registry: Path | None = None  # default: $RETRAIN_REGISTRY, else <home>/registry
    home: Path | None = None  # default: $RETRAIN_HOME, else the XDG data directory
    poll_interval_s: float = Field(0.2, ge=0)
    max_body_mb: float = Field(16.0, gt=0)  # inference requests
    shutdown_grace_s: float = Field(30.0, ge=0)  # running pipelines may finish for this long on SIGTERM
    read_timeout_s: float = Field(10.0, gt=0, le=3600)  # a request body that stalls this long: 408
    serving_url: str | None = None  # how pipelines reach this service; default http://<host>:<port>
    log_level: Literal["debug", "info", "warning", "error"] = "info"


class ApiConfig(_Section):
    token: SecretStr | None = None  # bearer token for POST /api/v1/...; none: those answer 403
    max_body_kb: int = Field(64, gt=0)
    concurrency_policy: PolicyName | None = None  # None: the pipeline's own (Queue by model)


class GitHubConfig(_Section):
    secret: SecretStr | None = None  # the webhook's secret; none: the receiver answers 403
    branches: list[str] = Field(default_factory=lambda: ["main"])
    path_prefix: str = "notebooks/"
    max_body_kb: int = Field(5 * 1024, gt=0)
    concurrency_policy: PolicyName | None = None


class AlertmanagerConfig(_Section):
    token: SecretStr | None = None  # bearer token (Alertmanager http_config.authorization); none: open
    alertnames: list[str] = Field(default_factory=lambda: ["ModelDrift"])
    model_label: str = "model"
    max_body_kb: int = Field(1024, gt=0)
    concurrency_policy: PolicyName | None = None


class HooksConfig(_Section):
    github: GitHubConfig = Field(default_factory=GitHubConfig)
    alertmanager: AlertmanagerConfig = Field(default_factory=AlertmanagerConfig)


class LimitsConfig(_Section):
    rate_per_s: float = Field(5.0, gt=0)  # webhooks and API writes, per client address and receiver
    burst: int = Field(20, ge=1)
    read_rate_per_s: float = Field(50.0, gt=0)  # API reads
    read_burst: int = Field(200, ge=1)


class TrainingDefaults(_Section):
    training_hours: str = "168"
    data_source: Literal["synthetic", "prometheus", "hybrid"] = "hybrid"
    health_check: bool = True
    deploy_target: str = "local"
    prometheus_url: str = ""
    pushgateway_url: str = ""

    _hours = field_validator("training_hours", mode="before")(_text)


class ModelConfig(_Section):
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=40)  # it names runs and labels
    notebook: str | None = None  # path in the git repository: a push that changes it retrains the model
    paths: list[str] = Field(default_factory=list)  # more repository path prefixes that retrain it
    notebook_path: str | None = None  # the notebook the pipeline executes (a custom model needs one)
    inference_service: str | None = None
    training_hours: str | None = None
    data_source: Literal["synthetic", "prometheus", "hybrid"] | None = None
    gpu: bool | None = None
    health_check: bool | None = None

    _hours = field_validator("training_hours", mode="before")(_text)


class RetrainConfig(_Section):
    server: ServerConfig = Field(default_factory=ServerConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    hooks: HooksConfig = Field(default_factory=HooksConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    defaults: TrainingDefaults = Field(default_factory=TrainingDefaults)
    models: list[ModelConfig] = Field(default_factory=list)
    catalog: list[Path] = Field(default_factory=list)  # Tekton files whose Pipelines/Tasks replace built-ins
    # Raw here; validated by their own models (triggers.schedules_config, drift.config,
    # triggers.notify_config) when `retrain serve` builds those parts (triggers.wiring).
    schedules: list[dict[str, Any]] | None = None
    drift: dict[str, Any] | None = None
    notifications: list[dict[str, Any]] = Field(default_factory=list)
    source: Path | None = Field(None, exclude=True)  # the file it was read from (relative paths start there)

    def model(self, name: str) -> ModelConfig | None:
        return next((m for m in self.models if m.name == name), None)

    @property
    def base_dir(self) -> Path:
        return self.source.parent if self.source is not None else Path.cwd()


def known_models(config: RetrainConfig) -> list[str]:
    """The built-in models and the configured ones."""
    return sorted({*BUILTIN_GPU, *(m.name for m in config.models)})


def training_request(
    config: RetrainConfig,
    model: str,
    trigger: Trigger,
    *,
    serving_url: str,
    labels: Mapping[str, str] | None = None,
    policy: str | None = None,
    **overrides: Any,
) -> TrainingRequest:
    """The request for `model`: the defaults, then the model's entry, then `overrides` (None: not given).

    `policy` overrides the pipeline's concurrency policy for this run (the run's annotation wins)."""
    entry = config.model(model) or ModelConfig(name=model)
    d = config.defaults
    notebook = entry.notebook_path
    if notebook and not Path(notebook).is_absolute():
        notebook = str(config.base_dir / notebook)
    fields: dict[str, Any] = {
        "model": model,
        "training_hours": entry.training_hours or d.training_hours,
        "data_source": entry.data_source or d.data_source,
        "notebook_path": notebook,
        "inference_service": entry.inference_service,
        "gpu": entry.gpu,
        "health_check": d.health_check if entry.health_check is None else entry.health_check,
        "deploy_target": d.deploy_target,
        "serving_url": serving_url,
        "prometheus_url": d.prometheus_url,
        "pushgateway_url": d.pushgateway_url,
    }
    fields.update({k: v for k, v in overrides.items() if v is not None})
    annotations = {"retrain.dev/concurrency-policy": policy} if policy else {}
    return TrainingRequest(**fields, trigger=trigger, labels=dict(labels or {}), annotations=annotations)


def config_path(explicit: Path | None, env: Mapping[str, str]) -> Path | None:
    """--config, else $RETRAIN_CONFIG, else none (built-in defaults)."""
    if explicit is not None:
        return explicit
    from_env = env.get(CONFIG_ENV)
    return Path(from_env) if from_env else None


def load_config(path: Path | None, env: Mapping[str, str]) -> RetrainConfig:
    """Read and validate the file (or the defaults without one) and apply the env-var overrides."""
    data: dict[str, Any] = {}
    source = SourceMap(str(path) if path else "<defaults>")
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(
                f"cannot read the configuration: {exc.strerror or exc}",
                location=Location(file=str(path)),
                hint=f"pass an existing file with --config or ${CONFIG_ENV}",
            ) from None
        data, source = _parse(text, str(path))
    for var, keys in SECRET_ENV.items():
        if env.get(var):
            _put(data, keys, env[var])
    try:
        config = RetrainConfig.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc, data, RetrainConfig, source)
        raise (problems[0] if len(problems) == 1 else InvalidInputs(problems)) from None
    config = config.model_copy(update={"source": path.resolve() if path else None})
    _check_models(config, source)
    return config


def _parse(text: str, file: str) -> tuple[dict[str, Any], SourceMap]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise InvalidInput(
            f"malformed YAML: {exc.problem}",
            location=Location(file, mark.line + 1 if mark else None),
            hint="check the indentation and quoting around this line",
        ) from None
    if node is None:
        return {}, SourceMap(file)
    positions: dict[tuple[str | int, ...], int] = {}
    _lines(node, (), positions)
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise InvalidInput(
            "the configuration must be a mapping (server:, api:, hooks:, models:, ...)",
            location=Location(file, 1),
        )
    return data, SourceMap(file, positions)


def _lines(node: yaml.Node, path: tuple[str | int, ...], out: dict[tuple[str | int, ...], int]) -> None:
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            out[(*path, str(key.value))] = key.start_mark.line + 1
            _lines(value, (*path, str(key.value)), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, (*path, i), out)


def _put(data: dict[str, Any], keys: tuple[str, ...], value: str) -> None:
    for key in keys[:-1]:
        nested = data.get(key)
        if not isinstance(nested, dict):
            nested = {}
            data[key] = nested
        data = nested
    data[keys[-1]] = value


def _check_models(config: RetrainConfig, source: SourceMap) -> None:
    """Each model entry must make a valid training request (a custom model names its notebook)."""
    problems: list[InvalidInput] = []
    seen: set[str] = set()
    for i, entry in enumerate(config.models):
        if entry.name in seen:
            problems.append(
                InvalidInput(
                    f"model {entry.name!r} is listed twice", location=source.location(f"models[{i}].name")
                )
            )
        seen.add(entry.name)
        try:
            check_request(training_request(config, entry.name, "api", serving_url=""))
        except InvalidInput as exc:
            problems.append(
                InvalidInput(exc.message, location=source.location(f"models[{i}]"), hint=exc.hint)
            )
    if problems:
        raise problems[0] if len(problems) == 1 else InvalidInputs(problems)
