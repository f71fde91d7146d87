"""Parameter resolution: defaults, types, object keys, and the `$(params...)` replacements they produce."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from retrain.engine import reasons
from retrain.engine.reasons import RunRejected
from retrain.tekton.model import Param, ParamSpec, ParamType, ParamValue
from retrain.tekton.substitution import Replacements, substitute_string


def value_type(value: ParamValue) -> ParamType:
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def resolve_params(
    specs: Sequence[ParamSpec],
    given: Sequence[Param],
    *,
    owner: str,
    propagate_undeclared: bool = False,
) -> dict[str, ParamValue]:
    """Apply defaults and check types, as Tekton does when it creates a run.

    `owner` names what declares the params ('Pipeline "p"', 'Task "t"') for the error messages.
    With `propagate_undeclared`, values given but not declared are kept (Tekton's propagated params for
    embedded specs); otherwise they are ignored, as Tekton ignores extra params.
    """
    provided = {p.name: p.value for p in given}
    values: dict[str, ParamValue] = {}
    missing: list[str] = []
    for spec in specs:
        declared = spec.effective_type
        if spec.name in provided:
            value = provided[spec.name]
            if declared == "object" and isinstance(value, dict) and isinstance(spec.default, dict):
                value = {**spec.default, **value}
        elif spec.default is not None:
            value = spec.default
        else:
            missing.append(spec.name)
            continue
        actual = value_type(value)
        if actual != declared:
            raise RunRejected(
                reasons.PR_PARAMETER_TYPE_MISMATCH,
                f'param "{spec.name}" of {owner} is declared as {declared} but got a {actual}: {value!r}',
                hint=f"pass a {declared} value for {spec.name}",
            )
        if declared == "object" and spec.properties:
            absent = sorted(set(spec.properties) - set(value if isinstance(value, dict) else {}))
            if absent:
                raise RunRejected(
                    reasons.PR_OBJECT_PARAM_MISS_KEYS,
                    f'object param "{spec.name}" of {owner} misses keys: {", ".join(absent)}',
                    hint="give every key the param declares in its properties",
                )
        if spec.enum and isinstance(value, str) and value not in spec.enum:
            raise RunRejected(
                reasons.PR_INVALID_PARAM_VALUE,
                f'param "{spec.name}" of {owner} is "{value}", not one of {spec.enum}',
            )
        values[spec.name] = value
    if missing:
        names = ", ".join(missing)
        raise RunRejected(
            reasons.PR_PARAMETER_MISSING,
            f"{owner} requires params with no default that were not given: {names}",
            hint="pass them with -p NAME=VALUE or in spec.params",
        )
    if propagate_undeclared:
        for name, value in provided.items():
            values.setdefault(name, value)
    return values


def param_replacements(values: Mapping[str, ParamValue], prefix: str = "params") -> Replacements:
    """`$(params.x)`, `$(params.a[i])`, `$(params.a[*])`, `$(params.o.key)` and `$(params.o[*])`.

    For `params`, Tekton still accepts the pre-v1 spelling `$(inputs.params.x)`, so it is offered too."""
    strings: dict[str, str] = {}
    arrays: dict[str, list[str]] = {}
    objects: dict[str, dict[str, str]] = {}
    prefixes = [prefix, "inputs.params"] if prefix == "params" else [prefix]
    for name, value in values.items():
        for key in (f"{p}.{name}" for p in prefixes):
            if isinstance(value, str):
                strings[key] = value
            elif isinstance(value, list):
                arrays[key] = list(value)
                strings.update({f"{key}[{i}]": item for i, item in enumerate(value)})
            else:
                objects[key] = dict(value)
                strings.update({f"{key}.{k}": item for k, item in value.items()})
    return Replacements(strings=strings, arrays=arrays, objects=objects)


def check_array_indexing(references: Sequence[str], values: Mapping[str, ParamValue], *, owner: str) -> None:
    """Tekton refuses runs that index past the end of an array param (ParamArrayIndexingInvalid)."""
    for ref in references:
        if not ref.startswith("params.") or not ref.endswith("]") or ref.endswith("[*]"):
            continue
        name, _, index_text = ref[len("params.") :].partition("[")
        value = values.get(name)
        if isinstance(value, list) and index_text[:-1].isdigit() and int(index_text[:-1]) >= len(value):
            raise RunRejected(
                reasons.PR_PARAM_ARRAY_INDEXING_INVALID,
                f'{owner} references $({ref}) but param "{name}" has only {len(value)} items',
            )


def fill_params(params: Mapping[str, ParamValue], r: Replacements) -> dict[str, ParamValue]:
    """Param values with the task's non-param variables substituted (never `$(params...)`: one pass only)."""
    filled: dict[str, ParamValue] = {}
    for name, value in params.items():
        if isinstance(value, str):
            filled[name] = substitute_string(value, r)
        elif isinstance(value, list):
            filled[name] = [substitute_string(item, r) for item in value]
        else:
            filled[name] = {key: substitute_string(item, r) for key, item in value.items()}
    return filled
