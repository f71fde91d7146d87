"""The key under which a ref resolved by a resolver is kept (engine/resolvers.py resolves it at creation).

A `taskRef`/`pipelineRef` with a resolver is keyed by its params as written: within one run they take
only the PipelineRun's params, which do not change, so the same written ref always resolves the same.
A step `ref` is keyed by its params after the Task's params are substituted (the same Task may run with
other params in another pipeline task); `step_action_key` computes that key when the step is expanded.
`ResolutionError` is what a local resolver raises (engine/resolvers.py adds Tekton's reason).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from retrain.tekton.model import Param, Ref
from retrain.tekton.substitution import Replacements, substitute_model

__all__ = ["ResolutionError", "ref_key", "step_action_key"]


class ResolutionError(Exception):
    """A ref that a local resolver cannot resolve: what is wrong and how to fix it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def ref_key(resolver: str, params: Sequence[Param]) -> str:
    values = {p.name: p.value for p in params}
    return "resolver:" + json.dumps({"resolver": resolver, "params": values}, sort_keys=True)


def step_action_key(ref: Ref, task_replacements: Replacements) -> str:
    """The name a step ref is looked up by among the StepActions: its name, or the key of its resolution."""
    if not ref.resolver:
        return ref.name or ""
    return ref_key(ref.resolver, substitute_model(ref, task_replacements).params)
