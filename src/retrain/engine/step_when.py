"""Step `when` expressions: a step whose expressions are not all true is skipped, and the task goes on.

Tekton's entrypoint (entrypointer.go `Go`/`allowExec`) evaluates them when the step starts, after the
step-result substitutions; a skipped step exits 0 with termination reason "Skipped" and writes exit code 0.
CEL expressions are refused at creation (local_support) unless a CEL evaluator is available.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from retrain.engine.whens import all_true
from retrain.runs.status import StepState
from retrain.tekton.model import Step
from retrain.tekton.substitution import Replacements

__all__ = ["skipped_by_when", "when_allows"]


def when_allows(step: Step) -> bool:
    """Whether the step runs; its variables have been substituted already."""
    allowed, _ = all_true(step.when or [], Replacements())
    return allowed


def skipped_by_when(name: str, step: Step, step_dir: Path, now: datetime) -> StepState:
    """Record the skip as Tekton does: exit code 0 (also in the exitCode file), reason Skipped."""
    step_dir.mkdir(parents=True, exist_ok=True)
    (step_dir / "exitCode").write_text("0")
    return StepState(name, step.image or "", 0, "Completed", "Skipped", now, now)
