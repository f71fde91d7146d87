"""Steps that refer to a StepAction (`ref: {name}`): checked at creation, expanded when the TaskRun starts.

Tekton (pkg/reconciler/taskrun/resources/taskspec.go `resolveStepRef`, apply.go `applyStepActionParameters`):
1. the step's params get the TaskRun's param values (task defaults, then the run's values);
2. each StepAction param takes the step's value, else its default (a default may name other params);
3. a step param whose value is a step result reference (`$(steps.s.results.r)`) makes the StepAction's
   `$(params.p)`, `$(params.p[*])`, `$(params.p[i])` and `$(params.p.key)` that reference, resolved when the
   step starts (step_results.py);
4. the StepAction's image, securityContext and workingDir replace the step's; its command, args, script,
   env, volumeMounts and results replace them when given; `ref` and `params` are dropped.
Expansion happens before the stepTemplate is merged, so the template applies to StepAction steps too.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence

from retrain.engine.params import param_replacements
from retrain.engine.reasons import RunRejected
from retrain.engine.resolver_keys import step_action_key
from retrain.tekton.model import Param, ParamSpec, ParamValue, Step, StepActionSpec, TaskSpec
from retrain.tekton.substitution import Replacements, find_references, substitute_model

__all__ = ["TR_RESOLUTION_FAILED", "StepActionError", "check_step_actions", "expand_step_actions"]

TR_RESOLUTION_FAILED = "TaskRunResolutionFailed"
_PARAM_REF = re.compile(r"\$\(params\.([A-Za-z0-9_.-]+?)\)")
_STEP_RESULT = re.compile(r"steps\.([A-Za-z0-9_-]+)\.results\.([A-Za-z0-9_.-]+?)(\[\*\])?")


class StepActionError(Exception):
    """A StepAction that cannot be applied to its step (found when the TaskRun starts)."""


def check_step_actions(
    spec: TaskSpec, actions: Mapping[str, StepActionSpec], *, owner: str, reason: str = TR_RESOLUTION_FAILED
) -> None:
    """Refuse, before anything starts, a step ref to a StepAction that is not loaded, or wrong step params
    (Tekton's validateStepHasStepActionParameters: no extra params, every param without a default given)."""
    for i, step in enumerate(spec.steps):
        if step.ref is None or step.ref.resolver:
            continue
        label = f'step "{step.name}"' if step.name else f"steps[{i}]"
        name = step.ref.name or ""
        action = actions.get(name)
        if action is None:
            close = difflib.get_close_matches(name, list(actions), n=1)
            raise RunRejected(
                reason,
                f'{label} of {owner} refers to StepAction "{name}", which is not loaded',
                hint=f'did you mean "{close[0]}"?' if close else "pass the StepAction's YAML with -f FILE",
            )
        declared = {p.name for p in action.params}
        given = [p.name for p in step.params or []]
        extra = [n for n in given if n not in declared]
        if extra:
            raise RunRejected(
                reason,
                f'{label} of {owner} passes params that StepAction "{name}" does not declare: {extra}',
                hint=f"declared: {', '.join(sorted(declared)) or 'none'}",
            )
        missing = [p.name for p in action.params if p.default is None and p.name not in given]
        if missing:
            raise RunRejected(
                reason,
                f'{label} of {owner} does not give StepAction "{name}" the params it requires: {missing}',
                hint="add them under the step's params",
            )


def expand_step_actions(
    spec: TaskSpec, actions: Mapping[str, StepActionSpec], task_params: Mapping[str, ParamValue]
) -> TaskSpec:
    """`spec` with every step `ref` replaced by its StepAction; `spec` itself when no step has a ref."""
    if not any(step.ref is not None for step in spec.steps):
        return spec
    task_replacements = param_replacements(task_params)
    steps = []
    for step in spec.steps:
        if step.ref is None:
            steps.append(step)
            continue
        action = actions.get(step_action_key(step.ref, task_replacements))  # a name, or a resolved ref
        if action is None:
            raise StepActionError(f'StepAction "{step.ref.name or step.ref.resolver}" is not loaded')
        steps.append(_resolve(step, action, task_replacements))
    return spec.model_copy(update={"steps": steps})


def _resolve(step: Step, action: StepActionSpec, task_replacements: Replacements) -> Step:
    given = [substitute_model(p, task_replacements) for p in step.params or []]
    replacements = _action_replacements(action, given)
    own = Step(
        image=action.image,
        command=action.command,
        args=action.args,
        script=action.script,
        working_dir=action.working_dir,
        env=action.env,
        security_context=action.security_context,
        volume_mounts=action.volume_mounts,
        results=action.results or None,
    )
    own = substitute_model(own, replacements)
    update: dict[str, object] = {
        "image": own.image,
        "security_context": own.security_context,
        "working_dir": own.working_dir,
        "ref": None,
        "params": None,
    }
    for field in ("command", "args", "volume_mounts", "results"):
        if getattr(own, field):
            update[field] = getattr(own, field)
    if own.script:
        update["script"] = own.script
    if own.env is not None:
        update["env"] = own.env
    return step.model_copy(update=update)


def _action_replacements(action: StepActionSpec, given: Sequence[Param]) -> Replacements:
    provided = {p.name: p.value for p in given}
    values: dict[str, ParamValue] = {}
    pending: dict[str, str] = {}  # string defaults that name other params
    for spec in action.params:
        if spec.name in provided:
            values[spec.name] = _merged(spec, provided[spec.name])
        elif isinstance(spec.default, str) and "$(params." in spec.default:
            pending[spec.name] = spec.default
        elif spec.default is not None:
            values[spec.name] = spec.default
    while pending:
        ready = {
            name: text
            for name, text in pending.items()
            if all(ref in values for ref in _PARAM_REF.findall(text))
        }
        if not ready:
            declared = {p.name for p in action.params}
            for name, text in pending.items():
                unknown = [ref for ref in _PARAM_REF.findall(text) if ref not in declared]
                if unknown:
                    raise StepActionError(
                        f'parameter "{name}" references non-existent parameter "{unknown[0]}"'
                    )
            raise StepActionError("circular dependency detected in parameter references")
        for name, text in ready.items():
            values[name] = _PARAM_REF.sub(lambda m: _as_string(values[m.group(1)]), text)
            del pending[name]
    defaults = {p.name: p.default for p in action.params if p.default is not None}
    replacements = param_replacements(defaults).merged(param_replacements(values))
    _check_types(replacements, action)
    return replacements.merged(Replacements(strings=_step_result_strings(action, given)))


def _merged(spec: ParamSpec, value: ParamValue) -> ParamValue:
    """An object value keeps the default's keys it does not give (Tekton merges object replacements)."""
    if isinstance(value, dict) and isinstance(spec.default, dict):
        return {**spec.default, **value}
    return value


def _as_string(value: ParamValue) -> str:
    return value if isinstance(value, str) else ""


def _check_types(r: Replacements, action: StepActionSpec) -> None:
    """Tekton's checkForDuplicateKeys: a default and a given value of different types (string vs array)."""
    for key in sorted(set(r.strings) & set(r.arrays)):
        name = key.split(".", 1)[1] if "." in key else key
        if any(p.name == name for p in action.params):
            raise StepActionError(
                f"invalid parameter substitution: {name}. "
                "Please check the types of the default value and the passed value"
            )


def _step_result_strings(action: StepActionSpec, given: Sequence[Param]) -> dict[str, str]:
    """Tekton's replacementsFromStepResults: a param given as `$(steps.s.results.r)` stands for that reference
    everywhere in the StepAction, so that it is resolved when the step starts."""
    strings: dict[str, str] = {}
    specs = {p.name: p for p in action.params}
    texts = [*(action.command or []), *(action.args or []), *(e.value or "" for e in action.env or [])]
    used = {ref for text in texts for ref in find_references(text)}
    for param in given:
        value = param.value
        spec = specs.get(param.name)
        if spec is None or not isinstance(value, str) or not value.startswith("$(steps."):
            continue
        match = _STEP_RESULT.fullmatch(value[2:-1])
        if match is None:
            raise StepActionError(f'param "{param.name}": {value} is not a step result reference')
        target = f"steps.{match.group(1)}.results.{match.group(2)}"
        name = param.name
        kind = spec.effective_type
        if kind == "object":
            for key in spec.properties or {}:
                strings[f"params.{name}.{key}"] = f"$({target}.{key})"
        elif kind == "array":
            strings[f"params.{name}[*]"] = f"$({target}[*])"
            for ref in used:
                index = re.fullmatch(rf"params\.{re.escape(name)}\[(\d+)\]", ref)
                if index:
                    strings[ref] = f"$({target}[{index.group(1)}])"
        else:
            strings[f"params.{name}"] = value
    return strings
