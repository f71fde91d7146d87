"""`retrain cluster validate DIR`: every document of a rendered tree through every check we have.

(a) the project's strict validation: Tekton kinds through `retrain.tekton` (unknown fields, types, then the
    semantic checks the local engine applies); Triggers, KServe, Prometheus operator and kustomize kinds
    through strict models (`kinds.py`); references between documents (`crosscheck.py`);
(b) Tekton's v1 CRD schemas, when a CRD directory is found (`schemas.find_crds`);
(c) Kubernetes' schemas of core kinds (kubernetes-validate), also for containers and volumes embedded in
    InferenceServices.
PipelineRuns embedded in TriggerTemplates and in the CronJobs' ConfigMaps get (a) and (b) as well.
Every problem carries file:line and the field path.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from retrain.cluster.crosscheck import Located, Tree, cross_check
from retrain.cluster.kinds import STRICT_KINDS, InferenceService, PrometheusRule
from retrain.cluster.schemas import CrdSchemas, KubernetesSchemas, describe, find_crds
from retrain.cluster.yamlsource import load_yaml_file, load_yaml_text
from retrain.errors import InvalidInput, InvalidInputs, Location, NotFound
from retrain.tekton.durations import parse_duration
from retrain.tekton.loader import SourceMap, format_field_path
from retrain.tekton.model import API_VERSION, KINDS
from retrain.tekton.problems import validation_problems
from retrain.tekton.validation import validate_object

__all__ = ["DEFAULT_KUBERNETES_VERSION", "Report", "validate_tree"]

DEFAULT_KUBERNETES_VERSION = "1.29"  # OpenShift 4.16
FieldPath = tuple[str | int, ...]


@dataclass
class Report:
    directory: Path
    files: list[str] = field(default_factory=list)
    documents: int = 0
    checks: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    problems: list[InvalidInput] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _reprefix(problem: InvalidInput, prefix: FieldPath) -> InvalidInput:
    """A problem found in an embedded object, with the field path from the top of its document."""
    if not prefix or problem.location is None:
        return problem
    inner = problem.location.field
    outer = format_field_path(prefix)
    where = dataclasses.replace(problem.location, field=f"{outer}.{inner}" if inner else outer)
    return InvalidInput(problem.message, location=where, hint=problem.hint)


def _model_problems(cls: type[BaseModel], data: Any, source: SourceMap) -> tuple[Any, list[InvalidInput]]:
    try:
        return cls.model_validate(data), []
    except ValidationError as exc:
        return None, validation_problems(exc, data, cls, source)


class _Checker:
    def __init__(self, crds: CrdSchemas | None, kube: KubernetesSchemas | None) -> None:
        self.crds = crds
        self.kube = kube
        self.runs: list[Located] = []

    def tekton(self, data: dict[str, Any], source: SourceMap, prefix: FieldPath = ()) -> list[InvalidInput]:
        kind, api = data.get("kind"), data.get("apiVersion")
        inner = source.under(prefix) if prefix else source
        if kind not in KINDS or api != API_VERSION:
            where = Location(source.file, source.line_of(prefix), format_field_path((*prefix, "kind")))
            return [InvalidInput(f"{api}/{kind} is not a Tekton v1 kind retrain knows", location=where)]
        obj, problems = _model_problems(KINDS[str(kind)], data, inner)
        if obj is not None:
            problems = validate_object(obj, where=inner)
        problems = [_reprefix(p, prefix) for p in problems]
        if self.crds is not None:
            problems += self.crds.errors(data, source, prefix)
        if kind == "PipelineRun":
            self.runs.append(Located(data, source, prefix))
        return problems

    def strict(self, cls: type[BaseModel], data: dict[str, Any], source: SourceMap) -> list[InvalidInput]:
        obj, problems = _model_problems(cls, data, source)
        if obj is None:
            return problems
        doc = Located(data, source)
        if isinstance(obj, PrometheusRule):
            for g, group in enumerate(obj.spec.groups):
                for r, rule in enumerate(group.rules):
                    at = ("spec", "groups", g, "rules", r)
                    if (rule.alert is None) == (rule.record is None):
                        problems.append(doc.problem("a rule needs exactly one of alert and record", *at))
                    if rule.for_ is not None:
                        try:
                            parse_duration(rule.for_)
                        except InvalidInput as exc:
                            problems.append(doc.problem(exc.message, *at, "for"))
        if isinstance(obj, InferenceService) and self.kube is not None:
            predictor = data["spec"]["predictor"]
            if (predictor.get("model") is None) == (predictor.get("containers") is None):
                problems.append(
                    doc.problem("a predictor needs exactly one of model and containers", "spec", "predictor")
                )
            for section, definition in (("containers", "Container"), ("volumes", "Volume")):
                for i, item in enumerate(predictor.get(section) or []):
                    where: FieldPath = ("spec", "predictor", section, i)
                    problems += self.kube.definition_errors(
                        f"io.k8s.api.core.v1.{definition}", item, source, where
                    )
        if data.get("kind") == "TriggerTemplate":
            for i, template in enumerate(data["spec"].get("resourcetemplates", [])):
                if isinstance(template, dict) and str(template.get("apiVersion", "")).startswith(
                    "tekton.dev/"
                ):
                    problems += self.tekton(template, source, ("spec", "resourcetemplates", i))
        return problems

    def configmap_runs(self, data: dict[str, Any], source: SourceMap) -> list[InvalidInput]:
        """PipelineRun manifests kept in a ConfigMap (the CronJobs'), mapped to the file's own lines."""
        problems: list[InvalidInput] = []
        for key, text in (data.get("data") or {}).items():
            if not isinstance(text, str) or "kind: PipelineRun" not in text:
                continue
            first = source.line_of(("data", key)) or 0  # a literal block starts on the next line
            try:
                inner = load_yaml_text(text, source.file)
            except InvalidInput as exc:
                problems.append(InvalidInput(exc.message, location=source.location(f"data.{key}")))
                continue
            for doc in inner:
                positions = {("data", key, *p): first + line for p, line in doc.source.positions.items()}
                problems += self.tekton(doc.data, SourceMap(source.file, positions), ("data", key))
        return problems

    def document(self, data: Any, source: SourceMap, line: int) -> list[InvalidInput]:
        if not isinstance(data, dict) or "kind" not in data or "apiVersion" not in data:
            return [
                InvalidInput(
                    "a document must be a mapping with apiVersion and kind",
                    location=Location(source.file, line),
                )
            ]
        api, kind = str(data["apiVersion"]), str(data["kind"])
        if api.startswith("tekton.dev/"):
            return self.tekton(data, source)
        if (api, kind) in STRICT_KINDS:
            return self.strict(STRICT_KINDS[(api, kind)], data, source)
        if self.kube is None:
            return []
        problems = self.kube.errors(data, source)
        if problems is None:
            where = Location(source.file, line, "kind")
            return [
                InvalidInput(
                    f"no schema for {api} {kind}", location=where, hint="retrain renders no such kind"
                )
            ]
        if kind == "ConfigMap":
            problems += self.configmap_runs(data, source)
        return problems


def _kustomization(directory: Path, docs: list[Located], files: list[str]) -> list[InvalidInput]:
    problems: list[InvalidInput] = []
    for doc in (d for d in docs if d.kind == "Kustomization"):
        listed = [str(r) for r in doc.data.get("resources") or []]
        for i, resource in enumerate(listed):
            if not (directory / resource).exists():
                problems.append(doc.problem(f"{resource} does not exist", "resources", i))
        own = Path(doc.source.file).name
        for name in sorted(set(files) - set(listed) - {own}):
            problems.append(doc.problem(f"{name} is in the directory but not in resources", "resources"))
    return problems


def validate_tree(
    directory: Path, *, crds: Path | None = None, kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
) -> Report:
    if not directory.is_dir():
        raise NotFound(f"no such directory: {directory}", location=Location(str(directory)))
    report = Report(directory)
    paths = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if not paths:
        raise InvalidInput(
            f"{directory} holds no YAML files", location=Location(str(directory)), hint="render into it first"
        )
    report.files = [p.name for p in paths]
    crd_dir = find_crds(crds)
    crd_schemas: CrdSchemas | None = None
    if crd_dir is None:
        report.skipped.append("Tekton CRD schemas: none found (give --crds DIR or RETRAIN_TEKTON_CRDS)")
    elif not crd_dir.is_dir():
        raise NotFound(f"no such CRD directory: {crd_dir}", location=Location(str(crd_dir)))
    else:
        try:
            crd_schemas = CrdSchemas(crd_dir)
            report.checks.append(describe(crd_schemas))
        except ImportError:
            report.skipped.append("Tekton CRD schemas: the jsonschema package is not installed")
    kube: KubernetesSchemas | None = None
    try:
        kube = KubernetesSchemas(kubernetes_version)
        report.checks.append(describe(kube))
    except ImportError:
        report.skipped.append("Kubernetes schemas: the kubernetes-validate package is not installed")
    report.checks.insert(0, "retrain strict models and cross-document references")
    checker = _Checker(crd_schemas, kube)
    located: list[Located] = []
    for path in paths:
        try:
            docs = load_yaml_file(path)
        except InvalidInput as exc:
            report.problems.append(exc)
            continue
        for doc in docs:
            report.documents += 1
            report.problems += checker.document(doc.data, doc.source, doc.line)
            if isinstance(doc.data, dict):
                located.append(Located(doc.data, doc.source))
    report.problems += cross_check(Tree(located, checker.runs))
    report.problems += _kustomization(directory, located, report.files)
    report.problems.sort(
        key=lambda p: (p.location.file or "", p.location.line or 0) if p.location else ("", 0)
    )
    return report


def raise_for(report: Report) -> None:
    if len(report.problems) == 1:
        raise report.problems[0]
    if report.problems:
        raise InvalidInputs(report.problems)
