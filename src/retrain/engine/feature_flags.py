"""Tekton's `feature-flags` ConfigMap, for local runs: which flags exist here, their values, their checks.

A run carries its flags in the annotation `retrain.dev/feature-flags` (JSON), so the stored manifest says
what the run was started with and `runs rerun` starts the new run with the same flags. Only the flags the
local engine honours are accepted; any other key is an error naming the known ones (never silently ignored).
Defaults and value checks follow tektoncd/pipeline pkg/apis/config/feature_flags.go.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from retrain.errors import InvalidInput, Location

ANNOTATION = "retrain.dev/feature-flags"
APIFields = Literal["stable", "beta", "alpha"]
_API_LEVELS: tuple[APIFields, ...] = ("stable", "beta", "alpha")
_RESULTS_FROM = ("termination-message", "sidecar-logs")
_CRD_LIMIT = 1572864  # Tekton refuses max-result-size at or above 1.5 MB (the CRD size limit)

# key -> (allowed values, Tekton's default), the flags the local engine honours.
KNOWN: dict[str, tuple[str, str]] = {
    "enable-api-fields": ("stable|beta|alpha", "beta"),
    "results-from": ("termination-message|sidecar-logs", "termination-message"),
    "max-result-size": ("bytes, below 1572864", "4096"),
    "enable-cel-in-whenexpression": ("true|false", "false"),
    "enable-artifacts": ("true|false", "false"),
}


@dataclass(frozen=True)
class FeatureFlags:
    enable_api_fields: APIFields = "beta"  # Tekton's DefaultEnableAPIFields
    results_from: str = "termination-message"
    max_result_size: int = 4096
    enable_cel_in_whenexpression: bool = False
    enable_artifacts: bool = False

    def as_map(self) -> dict[str, str]:
        return {
            "enable-api-fields": self.enable_api_fields,
            "results-from": self.results_from,
            "max-result-size": str(self.max_result_size),
            "enable-cel-in-whenexpression": str(self.enable_cel_in_whenexpression).lower(),
            "enable-artifacts": str(self.enable_artifacts).lower(),
        }

    def api_fields_at_least(self, level: APIFields) -> bool:
        return _API_LEVELS.index(self.enable_api_fields) >= _API_LEVELS.index(level)


DEFAULT_FLAGS = FeatureFlags()


def _known_list() -> str:
    return "; ".join(f"{k} ({allowed}, default {default})" for k, (allowed, default) in KNOWN.items())


def _bool(key: str, value: str, where: Location) -> bool:
    # Go's strconv.ParseBool, which Tekton uses for these flags
    lowered = value.strip()
    if lowered in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if lowered in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise InvalidInput(
        f"invalid value for feature flag {key!r}: {value!r} is not a boolean",
        location=where,
        hint="use true or false",
    )


def parse_flags(values: Mapping[str, str], *, where: Location | None = None) -> FeatureFlags:
    """Flags from a ConfigMap's data (or --feature-flag pairs); unknown keys and bad values are errors."""
    where = where or Location(field="feature-flags")
    fields: dict[str, Any] = {}
    for key, raw in values.items():
        at = Location(file=where.file, line=where.line, field=f"{where.field or 'data'}.{key}")
        value = str(raw)
        if key not in KNOWN:
            raise InvalidInput(
                f"unknown or locally unsupported feature flag {key!r}",
                location=at,
                hint=f"the local engine knows: {_known_list()}",
            )
        if key == "enable-api-fields":
            level = value.lower()
            if level not in _API_LEVELS:
                raise InvalidInput(
                    f'invalid value for feature flag "enable-api-fields": {value!r}',
                    location=at,
                    hint="use stable, beta or alpha",
                )
            fields["enable_api_fields"] = level
        elif key == "results-from":
            method = value.lower()
            if method not in _RESULTS_FROM:
                raise InvalidInput(
                    f'invalid value for feature flag "results-from": {value!r}',
                    location=at,
                    hint="use termination-message or sidecar-logs",
                )
            fields["results_from"] = method
        elif key == "max-result-size":
            if not value.strip().lstrip("-").isdigit():
                raise InvalidInput(
                    f'invalid value for feature flag "max-result-size": {value!r} is not a number of bytes',
                    location=at,
                    hint="e.g. max-result-size=8192",
                )
            size = int(value)
            if size >= _CRD_LIMIT or size <= 0:
                raise InvalidInput(
                    f'invalid value for feature flag "max-result-size": {size} (it must be above 0 and below '
                    f"{_CRD_LIMIT}, the CRD size limit)",
                    location=at,
                )
            fields["max_result_size"] = size
        else:
            fields[key.replace("-", "_")] = _bool(key, value, at)
    return FeatureFlags(**fields)


def parse_assignments(pairs: list[str]) -> dict[str, str]:
    """`--feature-flag KEY=VALUE` options as a map (later ones win, as in a ConfigMap edit)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(
                f"--feature-flag {pair!r} is not KEY=VALUE",
                hint="e.g. --feature-flag enable-api-fields=alpha",
            )
        out[key.strip()] = value.strip()
    return out


def read_configmap(path: Path) -> dict[str, str]:
    """The data of a `feature-flags` ConfigMap file (as `kubectl apply` would take it)."""
    from retrain.yamlfile import read_yaml

    hint = "give a ConfigMap named feature-flags with its flags under data:"
    doc, _node = read_yaml(path, what="feature flags file", hint=hint)
    where = Location(file=str(path))
    if not isinstance(doc, dict) or doc.get("kind") != "ConfigMap":
        raise InvalidInput("the feature flags file is not a ConfigMap", location=where, hint=hint)
    name = (doc.get("metadata") or {}).get("name")
    if name != "feature-flags":
        raise InvalidInput(
            f"the ConfigMap is named {name!r}, not 'feature-flags'",
            location=Location(file=str(path), field="metadata.name"),
            hint=hint,
        )
    data = doc.get("data") or {}
    if not isinstance(data, dict):
        raise InvalidInput("data: must be a map of flag to value", location=where, hint=hint)
    parse_flags({str(k): str(v) for k, v in data.items()}, where=Location(file=str(path), field="data"))
    return {str(k): str(v) for k, v in data.items()}


def flags_of(annotations: Mapping[str, str]) -> FeatureFlags:
    """The flags a run was submitted with (its annotation), Tekton's defaults when it has none."""
    text = annotations.get(ANNOTATION)
    if not text:
        return DEFAULT_FLAGS
    where = Location(field=f"metadata.annotations[{ANNOTATION}]")
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"the feature flags annotation is not JSON: {exc}", location=where) from None
    if not isinstance(values, dict):
        raise InvalidInput("the feature flags annotation must be a JSON object", location=where)
    return parse_flags({str(k): str(v) for k, v in values.items()}, where=where)


def annotation_value(values: Mapping[str, str]) -> str:
    """The annotation that records `values` (validated first)."""
    parse_flags(values)
    return json.dumps(dict(sorted(values.items())))


def api_fields_problem(flags: FeatureFlags, feature: str, level: APIFields) -> str | None:
    """Tekton's ValidateEnabledAPIFields message when `feature` needs a higher `enable-api-fields`."""
    if flags.api_fields_at_least(level):
        return None
    want = '"alpha"' if level == "alpha" else '"alpha" or "beta"'
    return (
        f'{feature} requires "enable-api-fields" feature gate to be {want} but it is '
        f'"{flags.enable_api_fields}"'
    )
