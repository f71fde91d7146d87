"""A Task's steps as Tekton sees them: their names, and the stepTemplate merged into each."""

from __future__ import annotations

from retrain.engine import security_context
from retrain.tekton.model import Step, TaskSpec


def step_names(spec: TaskSpec) -> list[str]:
    return [s.name or f"unnamed-{i}" for i, s in enumerate(spec.steps)]


def merge_step_template(spec: TaskSpec) -> list[Step]:
    """Tekton's MergeStepsWithStepTemplate: unset step fields come from the template; env merges by name."""
    if spec.step_template is None:
        return list(spec.steps)
    template = spec.step_template.model_dump(exclude_none=True)
    merged: list[Step] = []
    for step in spec.steps:
        own = step.model_dump(exclude_none=True)
        combined = {**template, **own}
        if "env" in template and "env" in own:
            env = {e["name"]: e for e in template["env"]}
            env.update({e["name"]: e for e in own["env"]})
            combined["env"] = list(env.values())
        if "volume_mounts" in template and "volume_mounts" in own:  # merged by mountPath, as Tekton does
            mounts = {m.get("mountPath"): m for m in template["volume_mounts"]}
            mounts.update({m.get("mountPath"): m for m in own["volume_mounts"]})
            combined["volume_mounts"] = list(mounts.values())
        if "security_context" in template and "security_context" in own:  # field by field, as Tekton
            combined["security_context"] = security_context.merge_contexts(
                template["security_context"], own["security_context"]
            )
        merged.append(Step.model_validate(combined))
    return merged
