"""The pure core of PipelineRun execution: given what has happened, decide what happens next.

Mirrors Tekton's pipelinerun resolution: which tasks are ready, which are skipped and why (in Tekton's order
of skip reasons), when `finally` starts, and the Succeeded condition with Tekton's reasons and message.
Nothing here does I/O or reads a clock; the orchestrator feeds it facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from retrain.engine import reasons
from retrain.engine.whens import all_true
from retrain.tekton.dag import Dag
from retrain.tekton.model import ParamValue, PipelineSpec, PipelineTask, WhenExpression
from retrain.tekton.substitution import Replacements, find_references

TaskPhase = Literal[
    "pending", "running", "succeeded", "failed", "failure_ignored", "cancelled", "timed_out", "skipped"
]
StopMode = Literal["Cancelled", "CancelledRunFinally", "StoppedRunFinally"]
Timeout = Literal["pipeline", "tasks", "finally"]


@dataclass
class TaskState:
    name: str
    is_finally: bool
    phase: TaskPhase = "pending"
    reason: str = ""  # the TaskRun's condition reason, for $(tasks.X.reason)
    skip_reason: str | None = None
    when: list[WhenExpression] = field(default_factory=list)
    results: dict[str, ParamValue] = field(default_factory=dict)
    taskruns: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.phase not in ("pending", "running")

    @property
    def failed(self) -> bool:
        return self.phase in ("failed", "timed_out")


@dataclass(frozen=True)
class Facts:
    spec: PipelineSpec
    dag: Dag
    states: Mapping[str, TaskState]
    base: Replacements  # pipeline params, context, workspaces.*.bound
    stop_mode: StopMode | None = None
    timeouts: frozenset[Timeout] = frozenset()


@dataclass(frozen=True)
class Skip:
    name: str
    reason: str
    when: list[WhenExpression]


@dataclass(frozen=True)
class Decision:
    start: list[str]
    skip: list[Skip]
    fail_run: tuple[str, str] | None = None  # (reason, message): the run must fail now


def result_replacements(states: Mapping[str, TaskState], *, with_status: bool) -> Replacements:
    """`$(tasks.X.results.R...)`; for finally tasks also `$(tasks.X.status)`, `$(tasks.X.reason)` and
    `$(tasks.status)`."""
    strings: dict[str, str] = {}
    arrays: dict[str, list[str]] = {}
    objects: dict[str, dict[str, str]] = {}
    for state in states.values():
        prefixes = ["finally", "tasks"] if state.is_finally else ["tasks"]
        for prefix in prefixes:
            for result, value in state.results.items():
                key = f"{prefix}.{state.name}.results.{result}"
                if isinstance(value, str):
                    strings[key] = value
                elif isinstance(value, list):
                    arrays[key] = list(value)
                    strings.update({f"{key}[{i}]": v for i, v in enumerate(value)})
                else:
                    objects[key] = dict(value)
                    strings.update({f"{key}.{k}": v for k, v in value.items()})
        if with_status and not state.is_finally:
            strings[f"tasks.{state.name}.status"] = task_status_word(state)
            strings[f"tasks.{state.name}.reason"] = state.reason if state.phase != "skipped" else ""
    if with_status:
        strings["tasks.status"] = aggregate_status([s for s in states.values() if not s.is_finally])
    return Replacements(strings=strings, arrays=arrays, objects=objects)


def task_status_word(state: TaskState) -> str:
    if state.phase == "succeeded":
        return "Succeeded"
    if state.phase in ("failed", "timed_out", "failure_ignored", "cancelled"):
        return "Failed"
    return "None"


def aggregate_status(dag_states: list[TaskState]) -> str:
    """`$(tasks.status)`: Failed if any failed, Completed if some were skipped, else Succeeded.

    As in Tekton, a failure ignored with `onError: continue` still counts as Failed here."""
    if any(s.phase in ("failed", "timed_out", "cancelled", "failure_ignored") for s in dag_states):
        return "Failed"
    if any(not s.done for s in dag_states):
        return "None"
    if any(s.phase == "skipped" for s in dag_states):
        return "Completed"
    return "Succeeded"


def referenced_results(task: PipelineTask) -> list[tuple[str, str]]:
    """(task, result) pairs this pipeline task reads, from params, when, matrix and an inline spec."""
    text = task.model_dump_json(by_alias=True, include={"params", "when", "matrix", "task_spec"})
    pairs: list[tuple[str, str]] = []
    for ref in find_references(text.replace('\\"', '"')):
        parts = ref.split(".")
        if len(parts) >= 4 and parts[0] == "tasks" and parts[2] == "results":
            pairs.append((parts[1], parts[3].split("[")[0]))
    return pairs


def _missing_results(
    task: PipelineTask, states: Mapping[str, TaskState]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(producer, result) pairs: (missing because the producer did not run or failed, missing although the
    producer ran to the end). Like Tekton, a consumer with `onError: continue` skips instead of failing."""
    absent: list[tuple[str, str]] = []
    invalid: list[tuple[str, str]] = []
    for producer, result in referenced_results(task):
        state = states.get(producer)
        if state is None or result in state.results:
            continue
        ended = state.phase in ("succeeded", "failure_ignored") and task.on_error != "continue"
        (invalid if ended else absent).append((producer, result))
    return absent, invalid


def _matrix_has_empty_array(task: PipelineTask, replacements: Replacements) -> bool:
    if task.matrix is None:
        return False
    for param in task.matrix.params:
        value = param.value
        if isinstance(value, list) and not value:
            return True
        if isinstance(value, str):
            refs = find_references(value)
            if len(refs) == 1 and refs[0].endswith("[*]"):
                array = replacements.lookup_array(refs[0][:-3])
                if array is not None and not array:
                    return True
    return False


def _dag_skip_reason(
    task: PipelineTask, facts: Facts, states: Mapping[str, TaskState]
) -> tuple[str | None, list[WhenExpression]]:
    if "pipeline" in facts.timeouts:
        return reasons.SKIP_PIPELINE_TIMEOUT, []
    if "tasks" in facts.timeouts:
        return reasons.SKIP_TASKS_TIMEOUT, []
    if any(s.failed or s.phase == "cancelled" for s in states.values() if not s.is_finally):
        return reasons.SKIP_STOPPING, []
    if facts.stop_mode == "CancelledRunFinally":
        return reasons.SKIP_GRACEFULLY_CANCELLED, []
    if facts.stop_mode == "StoppedRunFinally":
        return reasons.SKIP_GRACEFULLY_STOPPED, []
    for parent in facts.dag.deps.get(task.name, frozenset()):
        parent_state = states[parent]
        if parent_state.phase == "skipped" and parent_state.skip_reason != reasons.SKIP_WHEN:
            return reasons.SKIP_PARENT, []
    absent, _ = _missing_results(task, states)
    if absent:
        return reasons.SKIP_MISSING_RESULTS, []
    replacements = facts.base.merged(result_replacements(states, with_status=False))
    ok, resolved = all_true(task.when, replacements)
    if not ok:
        return reasons.SKIP_WHEN, resolved
    if _matrix_has_empty_array(task, replacements):
        return reasons.SKIP_EMPTY_MATRIX, []
    return None, resolved


def _finally_skip_reason(
    task: PipelineTask, facts: Facts, states: Mapping[str, TaskState]
) -> tuple[str | None, list[WhenExpression]]:
    if "pipeline" in facts.timeouts:
        return reasons.SKIP_PIPELINE_TIMEOUT, []
    if "finally" in facts.timeouts:
        return reasons.SKIP_FINALLY_TIMEOUT, []
    absent, invalid = _missing_results(task, states)
    if absent or invalid:
        return reasons.SKIP_MISSING_RESULTS, []
    replacements = facts.base.merged(result_replacements(states, with_status=True))
    ok, resolved = all_true(task.when, replacements)
    if not ok:
        return reasons.SKIP_WHEN, resolved
    if _matrix_has_empty_array(task, replacements):
        return reasons.SKIP_EMPTY_MATRIX, []
    return None, resolved


def decide(facts: Facts) -> Decision:
    """The tasks to start and to skip now. Skips cascade within one decision, as in Tekton."""
    states = {name: _copy(state) for name, state in facts.states.items()}
    start: list[str] = []
    skips: list[Skip] = []
    if facts.stop_mode == "Cancelled":
        return Decision(start, skips)
    changed = True
    while changed:
        changed = False
        for task in facts.spec.tasks:
            state = states[task.name]
            if state.phase != "pending":
                continue
            if not all(states[p].done for p in facts.dag.deps.get(task.name, frozenset())):
                continue
            _, invalid = _missing_results(task, states)
            if invalid:
                producer, result = invalid[0]
                message = (  # Tekton's ErrInvalidTaskResultReference, word for word
                    "Invalid task result reference: "
                    f"Could not find result with name {result} for task {producer}"
                )
                return Decision(start, skips, (reasons.PR_INVALID_TASK_RESULT_REFERENCE, message))
            reason, when = _dag_skip_reason(task, facts, states)
            if reason is None:
                state.phase = "running"
                start.append(task.name)
            else:
                state.phase, state.skip_reason = "skipped", reason
                skips.append(Skip(task.name, reason, when))
                changed = True
    if all(states[t.name].done for t in facts.spec.tasks):
        for task in facts.spec.finally_:
            if states[task.name].phase != "pending":
                continue
            reason, when = _finally_skip_reason(task, facts, states)
            if reason is None:
                start.append(task.name)
            else:
                skips.append(Skip(task.name, reason, when))
    return Decision(start, skips)


def _copy(state: TaskState) -> TaskState:
    return TaskState(
        state.name,
        state.is_finally,
        state.phase,
        state.reason,
        state.skip_reason,
        list(state.when),
        dict(state.results),
        list(state.taskruns),
    )


@dataclass(frozen=True)
class Condition:
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str


def condition(facts: Facts, run_name: str, *, pipeline_timeout: str, tasks_timeout: str = "") -> Condition:
    """The PipelineRun's Succeeded condition, with Tekton's reasons and message format."""
    states = list(facts.states.values())
    succeeded = sum(s.phase == "succeeded" for s in states)
    failed = sum(s.failed for s in states)
    ignored = sum(s.phase == "failure_ignored" for s in states)
    cancelled = sum(s.phase == "cancelled" for s in states)
    skipped = sum(s.phase == "skipped" for s in states)
    timeout_skips = sum(s.phase == "skipped" and s.skip_reason in reasons.TIMEOUT_SKIPS for s in states)
    incomplete = sum(not s.done for s in states)
    completed = succeeded + failed + cancelled + ignored
    if "pipeline" in facts.timeouts and incomplete == 0:
        return Condition(
            "False",
            reasons.PR_TIMEOUT,
            f'PipelineRun "{run_name}" failed to finish within "{pipeline_timeout}"',
        )
    if "tasks" in facts.timeouts and incomplete == 0:  # tektoncd/pipeline#7573: a timeout, not "Failed"
        return Condition(
            "False",
            reasons.PR_TIMEOUT,
            f'PipelineRun "{run_name}" failed due to tasks failed to finish within "{tasks_timeout}"',
        )
    if facts.stop_mode == "Cancelled" and not any(s.phase == "running" for s in states):
        return Condition("False", reasons.PR_CANCELLED, f'PipelineRun "{run_name}" was cancelled')
    if incomplete == 0:
        failures = f"{failed + ignored} (Ignored: {ignored})" if ignored else str(failed)
        message = (
            f"Tasks Completed: {completed} (Failed: {failures}, Cancelled {cancelled}), Skipped: {skipped}"
        )
        if failed or timeout_skips:
            return Condition("False", reasons.PR_FAILED, message)
        if facts.stop_mode in ("CancelledRunFinally", "StoppedRunFinally"):
            return Condition("False", reasons.PR_CANCELLED, f'PipelineRun "{run_name}" was cancelled')
        if cancelled:
            return Condition("False", reasons.PR_CANCELLED, message)
        return Condition("True", reasons.PR_COMPLETED if skipped else reasons.PR_SUCCEEDED, message)
    reason = reasons.PR_RUNNING
    if facts.stop_mode == "CancelledRunFinally":
        reason = reasons.PR_CANCELLED_RUNNING_FINALLY
    elif facts.stop_mode == "StoppedRunFinally":
        reason = reasons.PR_STOPPED_RUNNING_FINALLY
    elif cancelled or (failed and all(s.done for s in states if s.is_finally)):
        # Tekton: with finally tasks still to run, a failure alone keeps the run "Running" until they are done
        reason = reasons.PR_STOPPING
    message = (
        f"Tasks Completed: {completed} (Failed: {failed}, Cancelled {cancelled}), "
        f"Incomplete: {incomplete}, Skipped: {skipped}"
    )
    return Condition("Unknown", reason, message)
