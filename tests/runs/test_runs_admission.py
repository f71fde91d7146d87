"""Concurrency policies: the pure decision, the store applying it, and real processes racing for a key."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections import Counter
from collections.abc import Iterator
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest

from retrain.errors import InvalidInput
from retrain.runs import Admission, ConcurrencySpec, Policy, RunStore, admit, decide, wait_for_admission
from retrain.runs.records import Contender

KEY = "anomaly-detector"
PROCESSES = 10


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RunStore]:
    with RunStore(tmp_path) as s:
        yield s


def _pending(store: RunStore, name: str, *, engine_pid: int | None = None) -> None:
    store.create_run(
        name=name, kind="PipelineRun", manifest={}, concurrency_key=KEY, engine_pid=engine_pid or os.getpid()
    )


def _c(name: str, seq: int, state: str = "Pending", *, admitted: bool = False) -> Contender:
    return Contender(name=name, seq=seq, state=state, admitted=admitted)  # type: ignore[arg-type]


# -- the pure policy ------------------------------------------------------------------------------------


def test_decide_allow_always_starts() -> None:
    plan = decide(_c("me", 5), [_c("a", 1, "Running")], ConcurrencySpec(KEY, "Allow"))
    assert plan.decision == "start"


def test_decide_forbid_counts_only_admitted_or_running() -> None:
    spec = ConcurrencySpec(KEY, "Forbid")
    assert decide(_c("me", 5), [_c("a", 1)], spec).decision == "start"  # a is not admitted yet
    plan = decide(_c("me", 5), [_c("a", 1, admitted=True), _c("b", 2, "Running")], spec)
    assert plan.decision == "refused"
    assert plan.blocking_runs == ("a", "b")
    assert "Forbid" in plan.reason
    assert "'a', 'b'" in plan.reason


def test_decide_replace_cancels_earlier_and_waits_for_started_ones() -> None:
    spec = ConcurrencySpec(KEY, "Replace")
    others = [_c("a", 1, "Running"), _c("b", 2), _c("later", 9)]
    plan = decide(_c("me", 5), others, spec)
    assert plan.decision == "wait"
    assert plan.cancel == ("a", "b")
    assert plan.blocking_runs == ("a",)
    already = Contender(name="a", seq=1, state="Running", admitted=False, cancel_requested=True)
    again = decide(_c("me", 5), [already], spec)
    assert again.cancel == ()  # asked once, not at every poll
    assert again.decision == "wait"
    assert decide(_c("me", 5), [_c("later", 9)], spec).decision == "start"


def test_decide_queue_is_fifo_with_a_limit() -> None:
    spec = ConcurrencySpec(KEY, "Queue", queue_limit=2)
    assert decide(_c("me", 5), [_c("later", 9)], spec).decision == "start"
    assert decide(_c("me", 5), [_c("earlier", 1)], spec).decision == "wait"
    plan = decide(_c("me", 5), [_c("r", 9, "Running"), _c("w1", 2)], spec)
    assert (plan.decision, plan.blocking_runs) == ("wait", ("w1", "r"))
    assert "position 2" in plan.reason
    full = decide(_c("me", 5), [_c("r", 0, "Running"), _c("w1", 1), _c("w2", 2)], spec)
    assert full.decision == "refused"
    assert "queue is full" in full.reason


def test_spec_is_validated() -> None:
    with pytest.raises(InvalidInput, match="unknown concurrency policy"):
        ConcurrencySpec(KEY, "Serial")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="queue limit"):
        ConcurrencySpec(KEY, "Queue", queue_limit=-1)
    with pytest.raises(InvalidInput, match="key"):
        ConcurrencySpec("", "Queue")


# -- the store applying it --------------------------------------------------------------------------------


def test_forbid_refusal_is_recorded(store: RunStore) -> None:
    spec = ConcurrencySpec(KEY, "Forbid")
    _pending(store, "a")
    _pending(store, "b")
    assert admit(store, "a", spec).decision == "start"
    assert admit(store, "a", spec).decision == "start"  # asking again is harmless
    refused = admit(store, "b", spec)
    assert (refused.decision, refused.blocking_runs) == ("refused", ("a",))
    record = store.get_run("b")
    assert (record.state, record.reason) == ("Failed", "Refused")
    assert record.status["conditions"][0]["message"] == refused.reason
    assert store.events("b")[-1].type == "Warning"
    assert admit(store, "b", spec).decision == "refused"


def test_queue_starts_runs_in_creation_order(store: RunStore) -> None:
    spec = ConcurrencySpec(KEY, "Queue")
    for name in ("a", "b", "c"):
        _pending(store, name)
    assert admit(store, "c", spec).decision == "wait"  # b is ahead even before it asked
    assert admit(store, "b", spec).decision == "wait"
    assert admit(store, "a", spec).decision == "start"
    store.mark_started("a", engine_pid=os.getpid())
    assert admit(store, "b", spec).decision == "wait"
    store.update_run("a", state="Succeeded", reason=None, status={}, completed=True)
    assert admit(store, "c", spec).decision == "wait"
    assert admit(store, "b", spec).decision == "start"
    assert admit(store, "c", spec).decision == "wait"


def test_replace_asks_earlier_runs_to_cancel(store: RunStore) -> None:
    spec = ConcurrencySpec(KEY, "Replace")
    for name in ("old1", "old2"):
        _pending(store, name)
        store.mark_started(name, engine_pid=os.getpid())
    _pending(store, "queued")
    _pending(store, "new")
    first = admit(store, "new", spec)
    assert (first.decision, first.blocking_runs) == ("wait", ("old1", "old2"))
    assert store.cancel_requested("old1") == "Cancelled"
    assert store.cancel_requested("old2") == "Cancelled"
    assert store.get_run("queued").state == "Cancelled"  # never started: ended at once
    store.update_run("old1", state="Cancelled", reason="Cancelled", status={}, completed=True)
    assert admit(store, "new", spec).decision == "wait"
    store.update_run("old2", state="Cancelled", reason="Cancelled", status={}, completed=True)
    assert admit(store, "new", spec).decision == "start"
    assert [e.reason for e in store.events("old1")] == ["CancelRequested"]  # asked once


def test_a_dead_engine_does_not_block(store: RunStore) -> None:
    spec = ConcurrencySpec(KEY, "Forbid")
    _pending(store, "stale", engine_pid=999_999)
    store.mark_started("stale", engine_pid=999_999)
    _pending(store, "b")
    admission = admit(store, "b", spec, is_alive=lambda pid: pid != 999_999)
    assert admission.decision == "start"
    stale = store.get_run("stale")
    assert (stale.state, stale.reason) == ("Failed", "EngineInterrupted")
    assert "when run 'b' asked to start" in stale.status["conditions"][0]["message"]


def test_a_run_cancelled_while_waiting_is_refused(store: RunStore) -> None:
    spec = ConcurrencySpec(KEY, "Queue")
    _pending(store, "a")
    _pending(store, "b")
    assert admit(store, "a", spec).decision == "start"
    assert admit(store, "b", spec).decision == "wait"
    store.request_cancel("b", "Cancelled")
    refused = admit(store, "b", spec)
    assert refused.decision == "refused"
    assert "Cancelled" in refused.reason
    assert store.get_run("b").state == "Cancelled"


def test_key_mismatch_is_refused(store: RunStore) -> None:
    store.create_run(name="x", kind="TaskRun", manifest={}, concurrency_key="other")
    with pytest.raises(InvalidInput, match="concurrency key"):
        admit(store, "x", ConcurrencySpec(KEY, "Allow"))
    store.create_run(name="y", kind="TaskRun", manifest={})
    assert admit(store, "y", ConcurrencySpec(KEY, "Allow")).decision == "start"
    assert store.get_run("y").concurrency_key == KEY


def test_wait_for_admission_polls_until_start(store: RunStore) -> None:
    spec = ConcurrencySpec(KEY, "Queue")
    _pending(store, "a")
    _pending(store, "b")
    assert admit(store, "a", spec).decision == "start"
    heard: list[Admission] = []
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:  # a finishes while b waits
            store.update_run("a", state="Succeeded", reason=None, status={}, completed=True)

    result = asyncio.run(
        wait_for_admission(store, "b", spec, poll_s=0.5, sleep=fake_sleep, on_wait=heard.append)
    )
    assert result.decision == "start"
    assert sleeps == [0.5, 0.5, 0.5]
    assert len(heard) == 1  # the same reason is told once
    assert heard[0].blocking_runs == ("a",)


# -- real processes racing --------------------------------------------------------------------------------


def _contend(
    home: str, name: str, policy: Policy, limit: int, created: Barrier, decided: Barrier, out: Any
) -> None:
    with RunStore(Path(home)) as store:
        store.create_run(
            name=name, kind="PipelineRun", manifest={}, concurrency_key=KEY, engine_pid=os.getpid()
        )
        created.wait()
        admission = admit(store, name, ConcurrencySpec(KEY, policy, limit))
        out.put((name, admission.decision))
        decided.wait()  # stay alive until all have decided: a live engine keeps its place


def _replace(home: str, name: str, created: Barrier, asked: Barrier, out: Any) -> None:
    spec = ConcurrencySpec(KEY, "Replace")
    with RunStore(Path(home)) as store:
        store.create_run(
            name=name, kind="PipelineRun", manifest={}, concurrency_key=KEY, engine_pid=os.getpid()
        )
        created.wait()
        first = admit(store, name, spec)
        asked.wait()  # every run has asked once, so the newest has asked all earlier ones to cancel
        final = first
        if first.decision == "wait":
            final = asyncio.run(wait_for_admission(store, name, spec, poll_s=0.01))
        if final.decision == "start":
            store.mark_started(name, engine_pid=os.getpid())
            if store.cancel_requested(name):
                store.update_run(name, state="Cancelled", reason="Cancelled", status={}, completed=True)
            else:
                store.update_run(name, state="Succeeded", reason="Succeeded", status={}, completed=True)
        out.put((name, final.decision))


def _race(target: Any, args_for: Any, n: int) -> dict[str, str]:
    ctx = multiprocessing.get_context("spawn")
    created, second = ctx.Barrier(n), ctx.Barrier(n)
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args_for(i), created, second, out)) for i in range(n)]
    for p in procs:
        p.start()
    try:
        results = dict(out.get(timeout=60) for _ in range(n))
    finally:
        for p in procs:
            p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0] * n
    out.close()
    out.join_thread()
    return results


def _creation_order(home: Path) -> list[str]:
    with RunStore(home) as store:
        return [r.name for r in reversed(store.list_runs())]


@pytest.mark.slow
def test_forbid_across_processes_starts_exactly_one(tmp_path: Path) -> None:
    results = _race(_contend, lambda i: (str(tmp_path), f"run-{i}", "Forbid", 10), PROCESSES)
    assert Counter(results.values()) == {"start": 1, "refused": PROCESSES - 1}
    with RunStore(tmp_path) as store:
        for name, decision in results.items():
            assert store.get_run(name).state == ("Pending" if decision == "start" else "Failed")


@pytest.mark.slow
def test_queue_across_processes_is_fifo_and_bounded(tmp_path: Path) -> None:
    results = _race(_contend, lambda i: (str(tmp_path), f"run-{i}", "Queue", 3), PROCESSES)
    order = _creation_order(tmp_path)
    assert [results[name] for name in order] == ["start"] + ["wait"] * 3 + ["refused"] * 6


@pytest.mark.slow
def test_allow_across_processes_starts_all(tmp_path: Path) -> None:
    results = _race(_contend, lambda i: (str(tmp_path), f"run-{i}", "Allow", 10), 4)
    assert set(results.values()) == {"start"}


@pytest.mark.slow
def test_replace_across_processes_the_newest_wins(tmp_path: Path) -> None:
    _race(_replace, lambda i: (str(tmp_path), f"run-{i}"), 6)
    *earlier, newest = _creation_order(tmp_path)
    with RunStore(tmp_path) as store:
        assert store.get_run(newest).state == "Succeeded"
        for name in earlier:
            record = store.get_run(name)
            assert record.state == "Cancelled"
            assert record.cancel_requested == "Cancelled"
