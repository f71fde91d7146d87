"""Step results: `$(step.results.R.path)`, `$(steps.S.results.R)` and Task results fed from step results.

Tekton (apply.go getStepResultReplacements; entrypointer.go applyStepResultSubstitutions, loadStepResult):
a step's result R lives at /tekton/steps/step-<name>/results/R; when a later step starts, references to it
in that step's env, command, args and `when` are replaced with the file's value (JSON arrays and objects
are read as such; `[*]` as a whole command/args element expands into the array's items). A Task result
whose `value` is `$(steps.S.results.R)` takes that step result when the steps are done.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from retrain.runs.status import StepState, TaskRunResult
from retrain.tekton.model import ParamValue, Step, TaskSpec
from retrain.tekton.substitution import Replacements, find_references, substitute_model, substitute_string

__all__ = [
    "RESULTS_DIR",
    "result_path_strings",
    "runtime_env",
    "runtime_step_references",
    "task_results_from_steps",
    "with_step_results",
]

RESULTS_DIR = "results"


def result_path_strings(step: Step, step_dir_visible: str) -> dict[str, str]:
    """`step.results.R.path` for the results this step declares (its own directory, as the step sees it)."""
    return {
        f"step.results.{r.name}.path": f"{step_dir_visible}/{RESULTS_DIR}/{r.name}"
        for r in step.results or []
    }


def read_step_result(steps_dir: Path, step: str, result: str) -> ParamValue | None:
    """A step result's value as Tekton's ResultValue.UnmarshalJSON reads it; None when never written."""
    try:
        raw = (steps_dir / f"step-{step}" / RESULTS_DIR / result).read_bytes()
    except OSError:
        return None
    return parse_result(raw)


def parse_result(raw: bytes) -> ParamValue:
    text = raw.decode("utf-8", errors="replace")
    if text.startswith(("[", "{")):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
            return {str(k): v for k, v in value.items()}
    try:
        decoded = json.loads(text)
    except ValueError:
        return text
    return decoded if isinstance(decoded, str) else text


def _replacements(refs: Sequence[str], steps_dir: Path) -> Replacements:
    strings: dict[str, str] = {}
    arrays: dict[str, list[str]] = {}
    objects: dict[str, dict[str, str]] = {}
    for ref in refs:
        parts = ref.split(".")
        if len(parts) < 4 or parts[0] != "steps" or parts[2] != "results":
            continue
        result = parts[3].split("[", 1)[0]
        key = f"steps.{parts[1]}.results.{result}"
        if key in strings or key in arrays or key in objects:
            continue
        value = read_step_result(steps_dir, parts[1], result)
        if isinstance(value, str):
            strings[key] = value
        elif isinstance(value, list):
            arrays[key] = value
        elif isinstance(value, dict):
            objects[key] = value
    return Replacements(strings=strings, arrays=arrays, objects=objects)


def runtime_step_references(step: Step, steps_dir: Path) -> Step:
    """The step with earlier steps' results substituted in env, command, args and when (as the entrypoint
    does when the step starts). A result never written stays as written, as it does in Tekton."""
    data = step.model_dump(include=_RUNTIME_FIELDS, exclude_none=True)
    text = json.dumps(data)
    if "$(steps." not in text:
        return step
    refs = [r for r in find_references(text) if r.startswith("steps.")]
    done = substitute_model(Step.model_validate(data), _replacements(refs, steps_dir))
    return step.model_copy(update={k: getattr(done, k) for k in data})


_RUNTIME_FIELDS = {"env", "command", "args", "when"}


def task_results_from_steps(spec: TaskSpec, steps_dir: Path, results_dir: Path) -> None:
    """Write each Task result whose `value` names step results and that no step wrote itself."""
    for result in spec.results:
        value = result.value
        if not isinstance(value, str) or "$(steps." not in value:
            continue
        target = results_dir / result.name
        if target.exists():
            continue
        refs = [r for r in find_references(value) if r.startswith("steps.")]
        r = _replacements(refs, steps_dir)
        whole = refs[0] if len(refs) == 1 and value == f"$({refs[0]})" else None
        if whole is not None and whole.endswith("[*]"):
            whole = whole[:-3]
        if whole is not None and (whole in r.arrays or whole in r.objects):
            target.write_text(json.dumps(r.arrays.get(whole) or r.objects.get(whole)))
        elif whole is not None and whole in r.strings:
            target.write_text(r.strings[whole])
        elif not refs or all(_known(ref, r) for ref in refs):
            target.write_text(substitute_string(value, r))


def _known(ref: str, r: Replacements) -> bool:
    return r.lookup_string(ref) is not None


def runtime_env(env: Mapping[str, str], steps_dir: Path) -> dict[str, str]:
    """A step's environment with earlier steps' results substituted (entrypointer.go replaceEnv)."""
    refs = [r for value in env.values() if "$(steps." in value for r in find_references(value)]
    if not refs:
        return dict(env)
    r = _replacements([ref for ref in refs if ref.startswith("steps.")], steps_dir)
    return {key: substitute_string(value, r) for key, value in env.items()}


def with_step_results(state: StepState, step: Step, steps_dir: Path) -> StepState:
    """The step's state with the results it declares and wrote (Tekton's StepState.results)."""
    if not step.results:
        return state
    found = []
    for declared in step.results:
        value = read_step_result(steps_dir, state.name, declared.name)
        if value is not None:
            found.append(TaskRunResult(declared.name, declared.effective_type, value))
    return replace(state, results=tuple(found)) if found else state
