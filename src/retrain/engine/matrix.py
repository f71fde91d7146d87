"""Tekton `matrix`: fan a pipeline task out into one TaskRun per combination of params (with `include`)."""

from __future__ import annotations

import itertools

from retrain.engine import reasons
from retrain.engine.reasons import RunRejected
from retrain.tekton.model import Matrix, Param


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
    combos: list[dict[str, str]] = (
        [dict(zip(names, c, strict=True)) for c in itertools.product(*values)] if names else []
    )
    for include in matrix.include:
        extra = {p.name: str(p.value) for p in include.params}
        overlap = {k: v for k, v in extra.items() if k in names}
        if names and not overlap:
            for combo in combos:
                for key, value in extra.items():
                    combo.setdefault(key, value)
            continue
        matched = [c for c in combos if overlap and all(c.get(k) == v for k, v in overlap.items())]
        for combo in matched:
            for key, value in extra.items():
                combo.setdefault(key, value)
        if not matched:
            combos.append(dict(extra))
    if len(combos) > reasons.MAX_MATRIX_COMBINATIONS:
        raise RunRejected(
            reasons.PR_VALIDATION_FAILED,
            f'matrix of pipeline task "{owner}" makes {len(combos)} combinations, more than the maximum of '
            f"{reasons.MAX_MATRIX_COMBINATIONS}",
            hint="split the task or reduce the matrix params",
        )
    return [[Param(name=k, value=v) for k, v in combo.items()] for combo in combos]
