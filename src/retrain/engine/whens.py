"""`when` expressions (Tekton's WhenExpressions): pure evaluation after variable substitution."""

from __future__ import annotations

from collections.abc import Sequence

from retrain.tekton.cel import evaluate
from retrain.tekton.model import WhenExpression
from retrain.tekton.substitution import Replacements, find_references, substitute_list, substitute_string


def resolve_when(expr: WhenExpression, replacements: Replacements) -> WhenExpression:
    """Substitute variables into input and values; an array reference in values expands (`$(params.a[*])`)."""
    if expr.cel is not None:  # Tekton substitutes into the CEL text, then compiles and evaluates it
        return expr.model_copy(update={"cel": substitute_string(expr.cel, replacements)})
    return expr.model_copy(
        update={
            "input": substitute_string(expr.input or "", replacements),
            "values": substitute_list(list(expr.values or []), replacements),
        }
    )


def when_is_true(expr: WhenExpression) -> bool:
    if expr.cel is not None:
        return evaluate(expr.cel)  # CelError: the PipelineRun fails with CELEvaluationFailed
    values = list(expr.values or [])
    inside = (expr.input or "") in values
    return inside if (expr.operator or "in") == "in" else not inside


def all_true(
    exprs: Sequence[WhenExpression], replacements: Replacements
) -> tuple[bool, list[WhenExpression]]:
    """Evaluate every expression; returns (all true, the resolved expressions for the status)."""
    resolved = [resolve_when(e, replacements) for e in exprs]
    return all(when_is_true(e) for e in resolved), resolved


def unresolved_references(exprs: Sequence[WhenExpression]) -> list[str]:
    """References still present after substitution (e.g. a result that was never produced)."""
    refs: list[str] = []
    for e in exprs:
        refs += find_references(e.input or "") + find_references(e.cel or "")
        for v in e.values or []:
            refs += find_references(v)
    return refs
