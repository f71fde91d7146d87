"""Step `when` expressions: a step whose expressions are not all true is skipped, and the task goes on.

Tekton's entrypoint (entrypointer.go `Go`/`allowExec`) evaluates them when the step starts, after the
step-result substitutions; a skipped step exits 0 with termination reason "Skipped" and writes exit code 0.
A `cel` expression (gated by `enable-cel-in-whenexpression`, its syntax checked at creation as Tekton's
webhook does: engine/feature_gates.py, tekton/task_validation.py) is evaluated here by tekton/cel.py. When
it cannot be evaluated (e.g. `'a' < 1`, or not a boolean), the entrypoint's `allowExec` returns the error
and cmd/entrypoint logs `Error executing command: <err>` and exits 1: the step fails, and with it the
TaskRun (`when_checked` makes the step do exactly that, so it is logged and recorded like any failed step).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from retrain.engine.whens import all_true
from retrain.runs.status import StepState
from retrain.tekton.cel import CelError
from retrain.tekton.model import Step
from retrain.tekton.substitution import Replacements

__all__ = ["skipped_by_when", "when_allows", "when_checked"]

# The step the entrypoint becomes when allowExec fails: the error on stderr, exit code 1.
_FAIL = 'printf "%s\\n" "$1" >&2; exit 1'


def when_allows(step: Step) -> bool:
    """Whether the step runs; its variables have been substituted already (CelError for a bad `cel`)."""
    allowed, _ = all_true(step.when or [], Replacements())
    return allowed


def when_checked(step: Step) -> Step:
    """`step`, or (when its `cel` cannot be evaluated) a step that fails as the entrypoint makes it fail."""
    if not any(w.cel is not None for w in step.when or []):
        return step
    try:
        when_allows(step)
    except CelError as exc:
        message = f"Error executing command: {exc}"
        command = ["/bin/sh", "-c", _FAIL, "entrypoint", message]
        return step.model_copy(update={"when": None, "script": None, "command": command, "args": None})
    return step


def skipped_by_when(name: str, step: Step, step_dir: Path, now: datetime) -> StepState:
    """Record the skip as Tekton does: exit code 0 (also in the exitCode file), reason Skipped."""
    step_dir.mkdir(parents=True, exist_ok=True)
    (step_dir / "exitCode").write_text("0")
    return StepState(name, step.image or "", 0, "Completed", "Skipped", now, now)
