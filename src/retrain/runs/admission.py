"""Concurrency policies for runs that share a key (say, one model's training pipeline), across processes.

Tekton has none (tektoncd/pipeline#2591, TEP-0132). A run is created Pending with its concurrency key, then
its process asks `admit()` (or loops on `wait_for_admission()`) until told to start or refused:

- Allow: start at once.
- Forbid: refused while another run with the key is admitted (Pending, told to start) or Running.
- Replace: every earlier active run with the key is asked to cancel ("Cancelled"; one that never started
  ends Cancelled at once); wait until they have ended, then start. Only earlier runs are cancelled, so of
  several Replace runs started together the newest wins instead of all cancelling each other.
- Queue: at most one admitted/Running run per key, started in creation order (FIFO); a run waits while one
  is admitted/running or an earlier one is waiting. `queue_limit` is how many may wait: a run is refused
  when that many are already waiting ahead of it (limit 3, ten runs at once: 1 starts, 3 wait, 6 refused).

A refused run is ended by the store: state Failed, reason "Refused" (one reason for every policy, so that
`runs list --state Failed` and dashboards need to know only one word), a Succeeded=False condition and a
Warning event whose message names the policy, the key and the blocking runs. A run cancelled while it
waits is refused too (its state stays Cancelled).

The engine's part: `create_run(..., concurrency_key=key, engine_pid=os.getpid())`, `wait_for_admission`,
then `mark_started` on "start" (the run counts as running from the admission on).

`decide` is the pure policy; the store applies its plan in one `BEGIN IMMEDIATE` transaction, which makes
the decision atomic across processes. Runs whose engine process is gone do not block: the store marks them
failed (EngineInterrupted) on the way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from retrain.errors import InvalidInput, Location
from retrain.runs.records import AdmissionPlan, Contender, Decision
from retrain.runs.store import RunStore, pid_alive

Policy = Literal["Allow", "Forbid", "Replace", "Queue"]
POLICIES: frozenset[str] = frozenset(get_args(Policy))


@dataclass(frozen=True)
class ConcurrencySpec:
    key: str
    policy: Policy
    queue_limit: int = 10

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise InvalidInput(
                f"unknown concurrency policy {self.policy!r}",
                location=Location(field="concurrency.policy"),
                hint=f"use one of {', '.join(sorted(POLICIES))}",
            )
        if self.queue_limit < 0:
            raise InvalidInput(
                f"queue limit must be 0 or more, not {self.queue_limit}",
                location=Location(field="concurrency.queueLimit"),
            )
        if not self.key:
            raise InvalidInput("the concurrency key is empty", location=Location(field="concurrency.key"))


@dataclass(frozen=True)
class Admission:
    decision: Decision
    reason: str
    blocking_runs: tuple[str, ...]


def decide(me: Contender, others: Sequence[Contender], spec: ConcurrencySpec) -> AdmissionPlan:
    """The policy, pure: `me` is Pending and not admitted; `others` are the other active runs with the key."""
    running = [o for o in others if o.state == "Running" or o.admitted]
    policy, key = spec.policy, spec.key
    if policy == "Allow":
        return AdmissionPlan("start", "concurrency policy Allow")
    if policy == "Forbid":
        if running:
            names = _names(running)
            return AdmissionPlan(
                "refused",
                f"concurrency policy Forbid for key {key!r}: {_runs(names)} already running; wait for it to "
                "finish or cancel it (`retrain runs cancel NAME`), then start again",
                names,
            )
        return AdmissionPlan("start", f"no other run with key {key!r} is running")
    if policy == "Replace":
        earlier = [o for o in others if o.seq < me.seq]
        cancel = _names([o for o in earlier if not o.cancel_requested])
        # Later runs that already started are newer than us: wait for them instead of cancelling them.
        blocking = _names([o for o in others if o.state == "Running" or o.admitted])
        if blocking:
            return AdmissionPlan(
                "wait", f"concurrency policy Replace: waiting for {_runs(blocking)} to stop", blocking, cancel
            )
        return AdmissionPlan(
            "start", f"concurrency policy Replace: no other run with key {key!r}", (), cancel
        )
    waiting = [o for o in others if o.seq < me.seq and o.state == "Pending" and not o.admitted]
    if not running and not waiting:
        return AdmissionPlan("start", f"concurrency policy Queue: first in line for key {key!r}")
    blocking = _names(running + waiting)
    # With nothing running, the earliest waiting run is about to start (it may simply not have asked yet):
    # it holds the head of the line, not a place in the queue.
    queued_ahead = len(waiting) - (0 if running else 1)
    if queued_ahead >= spec.queue_limit:
        return AdmissionPlan(
            "refused",
            f"concurrency policy Queue for key {key!r}: the queue is full ({queued_ahead} runs waiting, "
            f"limit {spec.queue_limit}) behind {_runs(blocking)}; try again later or raise the queue limit",
            blocking,
        )
    return AdmissionPlan(
        "wait",
        f"concurrency policy Queue: position {queued_ahead + 1} in the queue for key {key!r}, "
        f"behind {_runs(blocking)}",
        blocking,
    )


def admit(
    store: RunStore, run_name: str, spec: ConcurrencySpec, *, is_alive: Callable[[int], bool] = pid_alive
) -> Admission:
    """One atomic admission decision for a Pending run (see the module docstring)."""
    plan = store.admit_with(
        run_name, spec.key, lambda me, others: decide(me, others, spec), is_alive=is_alive
    )
    return Admission(plan.decision, plan.reason, plan.blocking_runs)


async def wait_for_admission(
    store: RunStore,
    run_name: str,
    spec: ConcurrencySpec,
    *,
    poll_s: float = 0.05,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    on_wait: Callable[[Admission], None] | None = None,
    is_alive: Callable[[int], bool] = pid_alive,
) -> Admission:
    """Ask `admit()` until it says start or refused. `on_wait` hears each new reason for waiting (to print
    "waiting for ..." once, not every poll)."""
    if sleep is None:
        import asyncio

        sleep = asyncio.sleep
    last_reason = None
    while True:
        admission = admit(store, run_name, spec, is_alive=is_alive)
        if admission.decision != "wait":
            return admission
        if on_wait is not None and admission.reason != last_reason:
            on_wait(admission)
        last_reason = admission.reason
        await sleep(poll_s)


def _names(runs: Sequence[Contender]) -> tuple[str, ...]:
    return tuple(o.name for o in sorted(runs, key=lambda o: o.seq))


def _runs(names: Sequence[str]) -> str:
    quoted = ", ".join(repr(n) for n in names)
    return f"run {quoted}" if len(names) == 1 else f"runs {quoted}"
