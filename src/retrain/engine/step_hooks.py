"""The per-step features a TaskRun try applies, in one place for taskrun.py to call.

StepActions are expanded and the stepTemplate merged (in Tekton's order: refs first, so the template applies
to StepAction steps too); each step then gets its own `$(step.results.R.path)` and, for a workspace it mounts
at its own mountPath, its own `$(workspaces.W.path)`. When a step starts: earlier steps' results replace
`$(steps.S.results.R)` (step_results.py), its `when` decides whether it runs (step_when.py), its stdout/stderr
may be copied to files (stdio.py), and it sees only its own workspaces and internal dirs (step_mounts.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from retrain.engine import step_results
from retrain.engine.stdio import with_stdio
from retrain.engine.step_mounts import container_mounts, isolated_workspaces, step_mounts
from retrain.engine.step_results import (
    RESULTS_DIR,
    result_path_strings,
    runtime_env,
    task_results_from_steps,
    with_step_results,
)
from retrain.engine.step_when import skipped_by_when, when_allows, when_checked
from retrain.engine.stepactions import TR_RESOLUTION_FAILED, StepActionError, expand_step_actions
from retrain.tekton.model import ParamValue, Step, StepActionSpec, TaskSpec
from retrain.tekton.substitution import Replacements, substitute_model

__all__ = [
    "TR_RESOLUTION_FAILED",
    "StepActionError",
    "container_mounts",
    "expanded_steps",
    "isolated_workspaces",
    "runtime_env",
    "runtime_step_references",
    "skipped_by_when",
    "status_spec",
    "step_mounts",
    "task_results_from_steps",
    "when_allows",
    "with_stdio",
    "with_step_results",
]


def runtime_step_references(step: Step, steps_dir: Path) -> Step:
    """The step as the entrypoint sees it when it starts: earlier steps' results substituted (env, command,
    args, when); a `cel` in its `when` that cannot be evaluated makes it a failing step (step_when.py)."""
    ready = step_results.runtime_step_references(step, steps_dir)
    return when_checked(ready) if ready.when else ready


def expanded_steps(
    spec: TaskSpec,
    actions: Mapping[str, StepActionSpec],
    params: Mapping[str, ParamValue],
    replacements: Replacements,
    merge: Callable[[TaskSpec], list[Step]],
    *,
    names: Sequence[str],
    visible: Callable[[str], str],
    bwrap: bool,
    workspace_targets: Mapping[str, str],
    steps_dir: Path,
) -> tuple[TaskSpec, list[Step]]:
    """(the spec with StepActions expanded, its steps merged with the template and substituted).
    Raises StepActionError when a StepAction cannot be applied (a param type clash, a circular default)."""
    spec = expand_step_actions(spec, actions, params)
    steps: list[Step] = []
    for step, name in zip(merge(spec), names, strict=True):
        own: dict[str, str] = {}
        if step.results:  # the entrypoint creates the directory the step writes its results into
            (steps_dir / f"step-{name}" / RESULTS_DIR).mkdir(parents=True, exist_ok=True)
            own.update(result_path_strings(step, visible(f"/tekton/steps/step-{name}")))
        for usage in step.workspaces or []:
            target = workspace_targets.get(usage.name)
            if usage.mount_path and target is not None:
                own[f"workspaces.{usage.name}.path"] = usage.mount_path if bwrap else visible(target)
        mine = replacements.merged(Replacements(strings=own)) if own else replacements
        steps.append(substitute_model(step, mine))
    return spec, steps


def status_spec(
    spec: TaskSpec, actions: Mapping[str, StepActionSpec], params: Mapping[str, ParamValue]
) -> TaskSpec:
    """The spec a TaskRun's status shows: its StepActions resolved (Tekton stores the resolved steps)."""
    try:
        return expand_step_actions(spec, actions, params)
    except StepActionError:
        return spec  # the try itself reports why it cannot run
