"""A PipelineRun's recorded state: finished TaskRuns folded into task states, its status, its results."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from retrain.engine import artifacts
from retrain.engine.matrix import length_facts
from retrain.engine.scheduler import condition, result_replacements
from retrain.engine.taskrun_types import TaskRunOutcome
from retrain.runs.status import Condition, PipelineRunResult, PipelineRunStatus
from retrain.tekton.durations import format_duration
from retrain.tekton.model import ParamValue
from retrain.tekton.substitution import find_references, substitute_string

if TYPE_CHECKING:
    from retrain.engine.pipelinerun import PipelineRunner


def record_outcomes(runner: PipelineRunner, name: str, outcomes: list[TaskRunOutcome]) -> None:
    task, state = runner.tasks[name], runner.states[name]
    for outcome in outcomes:
        runner.on_taskrun(outcome.name, name, outcome.status)
    worst = next((o for o in outcomes if o.phase == "cancelled"), None) or next(
        (o for o in outcomes if o.phase != "succeeded"), outcomes[0]
    )
    state.reason = worst.reason
    if worst.phase == "succeeded":
        state.phase = "succeeded"
    elif worst.phase == "cancelled":
        state.phase = "cancelled"
    elif task.on_error == "continue":
        state.phase = "failure_ignored"  # reason: FailureIgnored, or TaskRunTimeout for a timeout
    else:
        state.phase = "timed_out" if worst.phase == "timed_out" else "failed"
    if task.matrix is not None:  # matrix results are aggregated into arrays
        keys = {k for o in outcomes for k in o.results}
        state.results = {
            k: [str(o.results[k]) for o in outcomes if isinstance(o.results.get(k), str)] for k in keys
        }
        runner.matrix_facts.update(length_facts(name, len(outcomes), state.results, ()))
    else:
        state.results = dict(outcomes[0].results)
        runner.artifact_values.update(artifacts.task_replacements(name, outcomes[0].status))


def run_status(runner: PipelineRunner) -> PipelineRunStatus:
    cond = condition(
        runner.facts(),
        runner.req.name,
        pipeline_timeout=format_duration(runner.req.timeouts.pipeline or timedelta(0)),
        tasks_timeout=format_duration(runner.req.timeouts.tasks or timedelta(0)),
    )
    status, reason, message = cond.status, cond.reason, cond.message
    if runner.fail is not None and status != "Unknown":
        status, reason, message = "False", runner.fail[0], runner.fail[1]
    return PipelineRunStatus(
        condition=Condition(status, reason, message, runner.env.clock.now()),
        start_time=runner.started,
        pipeline_spec=runner.spec_doc,
        children=tuple(runner.children),
        skipped=tuple(runner.skipped),
        finally_start_time=runner.finally_start_time,
    )


def pipeline_results(runner: PipelineRunner) -> tuple[PipelineRunResult, ...]:
    replacements = runner.base.merged(result_replacements(runner.states, with_status=False))
    out: list[PipelineRunResult] = []
    for result in runner.req.spec.results:
        value = result.value
        if isinstance(value, str):
            refs = find_references(value)
            whole = len(refs) == 1 and value.strip() == f"$({refs[0]})"
            if whole and refs[0].endswith("[*]"):
                array = replacements.lookup_array(refs[0][:-3])
                obj = replacements.lookup_object(refs[0][:-3])
                resolved: ParamValue | None = (
                    list(array) if array is not None else (dict(obj) if obj is not None else None)
                )
            elif whole and replacements.lookup_array(refs[0]) is not None:
                resolved = list(replacements.lookup_array(refs[0]) or [])
            elif whole and replacements.lookup_object(refs[0]) is not None:
                resolved = dict(replacements.lookup_object(refs[0]) or {})
            else:
                text = substitute_string(value, replacements)
                resolved = None if find_references(text) else text
        elif isinstance(value, list):
            items = [substitute_string(v, replacements) for v in value]
            resolved = None if any(find_references(i) for i in items) else items
        else:
            obj2 = {k: substitute_string(v, replacements) for k, v in value.items()}
            resolved = None if any(find_references(v) for v in obj2.values()) else obj2
        if resolved is not None:
            out.append(PipelineRunResult(result.name, resolved))
    return tuple(out)
