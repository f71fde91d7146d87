"""Trigger a training pipeline, and say afterwards what really holds.

`start` checks the request before anything is recorded (preflight: model, data source, hours, notebook) and
submits the PipelineRun. `summarize` is the truth about a finished run, read back rather than assumed: the run
store says what each task did, the registry says which version it serves, and the live endpoint says which
version answers. A summary never says a version serves unless the endpoint answers with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from retrain.app.failures import Failure
    from retrain.app.requests import TrainingRequest
    from retrain.app.serving import LiveVersion
    from retrain.engine.engine import Engine, Submission
    from retrain.runs.records import RunRecord
    from retrain.runs.store import RunStore

Outcome = Literal[
    "serving",  # deployed, verified, and the endpoint answers with the new version
    "promoted",  # registry only: promoted in the registry, no live check ran (no endpoint)
    "rejected",  # the gate rejected the candidate; nothing changed
    "rolled-back",  # deployed, the live check failed, the previous version serves again
    "rollback-failed",  # deployed, the live check failed, and the rollback failed too
    "not-serving",  # every task passed, but the endpoint does not answer with the new version now
    "failed",  # a task failed before anything was deployed (or the run was cancelled)
]
GOOD_OUTCOMES = ("serving", "promoted")
SUMMARY_EVENT = "Summary"  # the run event under which a training run's read-back summary is recorded
TRAIN, CHECK, DEPLOY, VERIFY, ROLLBACK = (
    "train-model",
    "health-check",
    "deploy-model",
    "post-deployment-check",
    "rollback",
)


@dataclass(frozen=True)
class TriggerRequest:
    training: TrainingRequest
    registry: Path  # the registry root, bound as the pipeline's model-storage workspace
    cwd: Path  # where a relative notebook path is resolved


def preflight(request: TrainingRequest, cwd: Path) -> None:
    """Every check that can fail before a run is recorded: InvalidInput naming the field and the fix."""
    from retrain.app.requests import check_notebook, check_request

    check_request(request)
    if request.notebook_path:
        check_notebook(cwd / request.notebook_path, field="notebook-path")


def start(engine: Engine, request: TriggerRequest) -> Submission:
    """Preflight, then record the PipelineRun (it runs with `engine.execute`)."""
    from retrain.app.requests import local_pipelinerun

    preflight(request.training, request.cwd)
    pipeline = engine.catalog.pipeline(request.training.pipeline)
    run, host_dirs = local_pipelinerun(request.training, pipeline, request.registry, cwd=request.cwd)
    return engine.submit(run, host_dirs=host_dirs)


@dataclass(frozen=True)
class TaskOutcome:
    task: str
    state: str  # Succeeded, Failed, Skipped, Cancelled, Running, Pending
    reason: str
    duration_s: float | None


@dataclass(frozen=True)
class TrainingSummary:
    """What a training run did and what holds now. `headline` states it in one sentence."""

    run: str
    model: str
    run_state: str
    run_reason: str
    run_message: str
    tasks: tuple[TaskOutcome, ...]
    version: int | None  # the candidate this run trained
    verdict: str | None  # blessed / rejected / None (the gate did not decide)
    serving_url: str  # empty: registry only
    registry_serving: int | None  # read back from the registry after the run
    live: LiveVersion | None  # read back from the endpoint after the run (None: registry only)
    outcome: Outcome
    headline: str
    failure: Failure | None
    next_action: str

    @property
    def ok(self) -> bool:
        return self.outcome in GOOD_OUTCOMES and self.run_state == "Succeeded"

    def state_of(self, task: str) -> str:
        return next((t.state for t in self.tasks if t.task == task), "Pending")


@dataclass(frozen=True)
class RunFacts:
    """What was read back about a finished run; `conclude` turns it into a summary (pure)."""

    run: str
    model: str
    run_state: str
    condition: dict[str, str]
    tasks: tuple[TaskOutcome, ...]
    version: int | None
    verdict: str | None
    serving_url: str
    registry: str  # where the registry is (a path, or the service that holds it)
    registry_serving: int | None
    live: LiveVersion | None
    failure: Failure | None


def summarize(store: RunStore, registry_root: Path, run: str) -> TrainingSummary:
    """Read back what a finished training run did, from the run store, the registry and the endpoint."""
    from retrain.app.failures import failure_of
    from retrain.app.serving import live_version

    record = store.get_run(run)
    params = _params(record)
    model = params.get("model-name", "")
    url = params.get("serving-url", "")
    return conclude(
        RunFacts(
            run=run,
            model=model,
            run_state=record.state,
            condition=_condition(record),
            tasks=_task_outcomes(store, record),
            version=_int(
                _result(record, "model-version") or _task_result(store, run, TRAIN, "model-version")
            ),
            verdict=_result(record, "verdict") or _task_result(store, run, CHECK, "verdict") or None,
            serving_url=url,
            registry=str(registry_root),
            registry_serving=_registry_serving(registry_root, model),
            live=live_version(url, params.get("inference-service-name") or model) if url else None,
            failure=failure_of(store, run),
        )
    )


def conclude(facts: RunFacts) -> TrainingSummary:
    """The outcome, the one-sentence headline and the next action, from what was read back."""
    states = {t.task: t.state for t in facts.tasks}
    outcome = _outcome(states, facts.version, facts.verdict, facts.registry_serving, facts.live)
    failure = facts.failure if outcome not in GOOD_OUTCOMES else None
    return TrainingSummary(
        run=facts.run,
        model=facts.model,
        run_state=facts.run_state,
        run_reason=facts.condition.get("reason", ""),
        run_message=facts.condition.get("message", ""),
        tasks=facts.tasks,
        version=facts.version,
        verdict=facts.verdict,
        serving_url=facts.serving_url,
        registry_serving=facts.registry_serving,
        live=facts.live,
        outcome=outcome,
        headline=_headline(outcome, facts, failure),
        failure=failure,
        next_action=_next_action(outcome, facts, failure),
    )


def record_summary(store: RunStore, summary: TrainingSummary) -> None:
    """Keep the headline with the run (`runs show`, the API and notifications read it back)."""
    store.add_event(summary.run, "Normal" if summary.ok else "Warning", SUMMARY_EVENT, summary.headline)


def _outcome(
    states: dict[str, str],
    version: int | None,
    verdict: str | None,
    registry_serving: int | None,
    live: LiveVersion | None,
) -> Outcome:
    if verdict == "rejected":
        return "rejected"
    if states.get(DEPLOY) != "Succeeded" or version is None:
        return "failed"
    check = states.get(VERIFY)
    if check == "Failed":
        rolled = states.get(ROLLBACK) == "Succeeded" and registry_serving != version
        return "rolled-back" if rolled else "rollback-failed"
    if live is None:  # registry only: the live check was skipped because there is no endpoint
        return "promoted" if registry_serving == version else "not-serving"
    if check != "Succeeded":
        return "failed"
    return "serving" if live.version == version and registry_serving == version else "not-serving"


def _now(registry_root: str, registry_serving: int | None, live: LiveVersion | None) -> str:
    held = (
        f"the registry serves version {registry_serving}"
        if registry_serving is not None
        else "the registry serves no version"
    )
    if live is None:
        return f"{held} ({registry_root}); no live check ran (no inference endpoint)"
    return f"{held}; {live.detail}"


def _headline(outcome: Outcome, facts: RunFacts, failure: Failure | None) -> str:
    now = _now(facts.registry, facts.registry_serving, facts.live)
    new, verdict = f"new version {facts.version}", facts.verdict or "-"
    if outcome == "serving":
        return f"{new} (gate: blessed) was deployed and verified, and now serves: {now}"
    if outcome == "promoted":
        return f"{new} (gate: blessed) was promoted in the registry only: {now}"
    if outcome == "rejected":
        return f"{new} was rejected by the gate and not deployed: {now}"
    if outcome == "rolled-back":
        return f"{new} was deployed, failed its post-deployment check and was rolled back: {now}"
    if outcome == "rollback-failed":
        return f"{new} was deployed, failed its post-deployment check, and the rollback FAILED: {now}"
    if outcome == "not-serving":
        return f"{new} (gate: {verdict}) was deployed, but it does not serve now: {now}"
    if failure is not None:
        where = f"{failure.task or 'the run'} failed ({failure.reason})"
    elif facts.run_state == "Succeeded":
        where = "the pipeline succeeded without deploying it (it has no deploy-model task that ran)"
    else:
        where = f"the run ended {facts.run_state}"
    trained = f"{new} (gate: {verdict})" if facts.version is not None else "no new version was registered"
    return f"{trained}; {where}; nothing was deployed: {now}"


def _next_action(outcome: Outcome, facts: RunFacts, failure: Failure | None) -> str:
    model, run = facts.model, facts.run
    if outcome == "serving":
        return f"retrain models show {model}"
    if outcome == "promoted":
        return "start `retrain serve` to serve it (or pass --serving-url URL to deploy to a running server)"
    if outcome == "rejected":
        return f"retrain check {model} --version {facts.version} (the reasons); retrain runs show {run}"
    if outcome == "rollback-failed":
        url = facts.serving_url or "URL"
        return f"retrain rollback {model} --serving-url {url}; then retrain verify {model} --endpoint {url}"
    if failure is not None:
        return f"{failure.log_command}; then retrain runs rerun {run} --from-failed"
    return f"retrain runs show {run}"


def _params(record: RunRecord) -> dict[str, str]:
    params = (record.manifest.get("spec") or {}).get("params") or []
    return {p["name"]: str(p.get("value", "")) for p in params if isinstance(p, dict) and "name" in p}


def _condition(record: RunRecord) -> dict[str, str]:
    for cond in record.status.get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == "Succeeded":
            return {k: str(v) for k, v in cond.items()}
    return {}


def _result(record: RunRecord, name: str) -> str | None:
    for result in record.status.get("results") or []:
        if isinstance(result, dict) and result.get("name") == name:
            return str(result.get("value", ""))
    return None


def _task_result(store: RunStore, run: str, task: str, name: str) -> str | None:
    for tr in reversed(store.taskruns(run)):
        if tr.pipeline_task == task and name in tr.results:
            return str(tr.results[name]).strip()
    return None


def _int(text: str | None) -> int | None:
    return int(text) if text and text.strip().isdigit() else None


def _registry_serving(root: Path, model: str) -> int | None:
    from retrain.registry import Registry
    from retrain.registry.layout import SERVING

    if not model or not (root / model).is_dir():
        return None
    return Registry(root).aliases(model).get(SERVING)


def _task_outcomes(store: RunStore, record: RunRecord) -> tuple[TaskOutcome, ...]:
    from retrain.app.failures import last_tries

    order = _task_order(record)
    found: dict[str, TaskOutcome] = {}
    for tr in last_tries(store, record.name):
        if not tr.pipeline_task:
            continue
        duration = (
            (tr.completed_at - tr.started_at).total_seconds() if tr.started_at and tr.completed_at else None
        )
        found[tr.pipeline_task] = TaskOutcome(tr.pipeline_task, tr.state, tr.reason or "", duration)
    for skipped in record.status.get("skippedTasks") or []:
        name = skipped.get("name", "")
        found[name] = TaskOutcome(name, "Skipped", _skip_reason(skipped), None)
    names = [*order, *(n for n in found if n not in order)]
    return tuple(found.get(n, TaskOutcome(n, "Pending", "", None)) for n in names)


def _skip_reason(skipped: dict[str, object]) -> str:
    """Tekton's skip reason, with the `when` expressions that were false (the true ones explain nothing)."""
    reason = str(skipped.get("reason", ""))
    whens = skipped.get("whenExpressions")
    if reason == "When Expressions evaluated to false" and isinstance(whens, list):
        false = [w for w in whens if isinstance(w, dict) and not _holds(w)]
        shown = [
            f"cel: {w['cel']}" if "cel" in w else f"{w.get('input')!r} {w.get('operator')} {w.get('values')}"
            for w in false
        ]
        return f"{reason}: " + "; ".join(shown) if shown else reason
    return reason


def _holds(when: dict[str, object]) -> bool:
    """An evaluated `when` expression (its input already substituted): `in` or `notin` its values."""
    if isinstance(when.get("cel"), str):
        return False  # recorded on a skipped task: a CEL expression shown there evaluated to false or errored
    values = when.get("values")
    found = isinstance(values, list) and when.get("input") in values
    return found if when.get("operator") == "in" else not found


def _task_order(record: RunRecord) -> list[str]:
    spec = record.status.get("pipelineSpec") or {}
    return [t["name"] for t in [*(spec.get("tasks") or []), *(spec.get("finally") or [])] if "name" in t]
