"""Tekton `matrix`: fan a pipeline task out into one TaskRun per combination of params (with `include`).

The order and the `include` rules are those of Tekton's `Matrix.FanOut` (matrix_types.go in
pkg/apis/pipeline/v1):
- the first matrix param varies fastest: [a1 b1, a2 b1, a1 b2, a2 b2];
- each `include` entry, in order, is merged into every combination that it "contains" (none of its params
  present in the combination with another value), overwriting the values it names;
- an `include` entry is appended as a combination of its own only when no combination has any of its params
  with the same value; with no matrix params, the `include` entries are the combinations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from retrain.engine import reasons
from retrain.engine.params import param_replacements
from retrain.engine.reasons import RunRejected
from retrain.tekton.model import Matrix, Param, ParamValue, PipelineTask
from retrain.tekton.substitution import Replacements, substitute_string

Combination = dict[str, str]


def _fan_out(names: list[str], values: list[list[str]]) -> list[Combination]:
    combos: list[Combination] = []
    for position, (name, items) in enumerate(zip(names, values, strict=True)):
        if position == 0:
            combos = [{name: item} for item in items]
        else:  # Tekton's distribute: the new param's values outside, the existing combinations inside
            combos = [{**combo, name: item} for item in items for combo in combos]
    return combos


def _contains(combo: Combination, include: Combination) -> bool:
    return all(combo[k] == v for k, v in include.items() if k in combo)


def _adds_new(combos: list[Combination], include: Combination) -> bool:
    if not include:
        return False
    return not any(combo.get(k) == v for combo in combos for k, v in include.items() if k in combo)


def combinations(matrix: Matrix, *, owner: str) -> list[list[Param]]:
    """The combinations, in Tekton's order; more than 256 is refused as Tekton refuses it."""
    names = [p.name for p in matrix.params]
    values: list[list[str]] = []
    for param in matrix.params:
        if not isinstance(param.value, list):
            raise RunRejected(
                reasons.PR_VALIDATION_FAILED,
                f'matrix param "{param.name}" of pipeline task "{owner}" must be an array, '
                f"got {param.value!r}",
                hint="give a list of values, or an array param reference such as $(params.list[*])",
            )
        values.append(list(param.value))
    includes = [{p.name: str(p.value) for p in include.params} for include in matrix.include]
    if not names:
        combos = [dict(include) for include in includes]
    else:
        combos = _fan_out(names, values)
        for combo in combos:
            for include in includes:
                if _contains(combo, include):
                    combo.update(include)
        for include in includes:  # each check sees the entries appended before it, as in Tekton
            if _adds_new(combos, include):
                combos.append(dict(include))
    if len(combos) > reasons.MAX_MATRIX_COMBINATIONS:
        raise RunRejected(
            reasons.PR_VALIDATION_FAILED,
            f'matrix of pipeline task "{owner}" makes {len(combos)} combinations, more than the maximum of '
            f"{reasons.MAX_MATRIX_COMBINATIONS}",
            hint="split the task or reduce the matrix params",
        )
    # Tekton orders each combination's params by name (sortCombination).
    return [[Param(name=k, value=combo[k]) for k in sorted(combo)] for combo in combos]


def display_name(
    task: PipelineTask, given: Mapping[str, ParamValue], replacements: Replacements
) -> str | None:
    """Tekton's childReferences displayName (pipelinerunstate.go getDisplayName).

    The task's displayName with the pipeline's params and results, then the TaskRun's own string params (those
    given to it: the task's params and its matrix combination, not the Task's defaults) substituted. For a
    matrix, the names of the `include` entries whose params all equal the TaskRun's, substituted the same way
    and joined by spaces, take precedence."""
    if not task.display_name and (task.matrix is None or not task.matrix.include):
        return None
    own = param_replacements({k: v for k, v in given.items() if isinstance(v, str)})
    name = substitute_string(substitute_string(task.display_name or "", replacements), own) or None
    if task.matrix is not None:
        matched = [
            substitute_string(include.name, own)
            for include in task.matrix.include
            if include.name and all(given.get(p.name) == p.value for p in include.params)
        ]
        name = " ".join(matched).strip() or name
    return name


def length_facts(
    task: str, taskruns: int, results: Mapping[str, object], declared: Sequence[str]
) -> dict[str, str]:
    """`$(tasks.X.matrix.length)` (the TaskRuns the matrix made) and `$(tasks.X.matrix.R.length)` (how many of
    them produced result R: the length of the aggregated array, 0 before any did), as Tekton's
    ApplyPipelineTaskContexts gives them to the tasks that run after X."""
    facts = {f"tasks.{task}.matrix.length": str(taskruns)}
    for result in declared:
        facts[f"tasks.{task}.matrix.{result}.length"] = "0"
    for result, value in results.items():
        facts[f"tasks.{task}.matrix.{result}.length"] = str(len(value) if isinstance(value, list) else 1)
    return facts
