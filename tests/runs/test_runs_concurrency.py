"""Twenty processes open a fresh store at the same moment and write to it at once: nothing is lost, nothing
fails with "database is locked"."""

from __future__ import annotations

import multiprocessing
import os
from datetime import UTC, datetime
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from retrain.runs import RunStore, TaskRunRecord

WRITERS = 20
RUNS_EACH = 5
UPDATES_EACH = 5


def _write(home: str, worker: int, start: Barrier) -> None:
    start.wait()  # all open the (not yet existing) database at once: migrations race too
    with RunStore(Path(home)) as store:
        for i in range(RUNS_EACH):
            name = store.unique_name(f"w{worker}-")
            store.create_run(
                name=name,
                kind="PipelineRun",
                manifest={"worker": worker, "i": i},
                labels={"worker": str(worker)},
            )
            store.mark_started(name, engine_pid=os.getpid())
            for u in range(UPDATES_EACH):
                store.update_run(name, state="Running", reason="Running", status={"update": u})
                store.upsert_taskrun(
                    TaskRunRecord(
                        name=f"{name}-t{u}",
                        run_name=name,
                        pipeline_task=f"t{u}",
                        retry=0,
                        state="Succeeded",
                        reason="Succeeded",
                        started_at=datetime.now(UTC),
                        completed_at=datetime.now(UTC),
                        status={},
                        results={"u": str(u)},
                    )
                )
                store.add_event(name, "Normal", "Progress", f"update {u}")
            store.update_run(
                name, state="Succeeded", reason="Succeeded", status={"update": "done"}, completed=True
            )
        store.recover_interrupted()  # every CLI start does this, while others write
        store.prune(keep=10_000)


@pytest.mark.slow
def test_twenty_processes_write_at_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(WRITERS)
    procs = [ctx.Process(target=_write, args=(str(home), w, start)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=100)
    assert [p.exitcode for p in procs] == [0] * WRITERS

    with RunStore(home) as store:
        runs = store.list_runs()
        assert len(runs) == WRITERS * RUNS_EACH
        assert {r.state for r in runs} == {"Succeeded"}
        assert all(r.status == {"update": "done"} for r in runs)
        for w in range(WRITERS):
            mine = store.list_runs(label={"worker": str(w)})
            assert sorted(r.manifest["i"] for r in mine) == list(range(RUNS_EACH))
        for r in runs:
            assert [t.results for t in store.taskruns(r.name)] == [{"u": str(u)} for u in range(UPDATES_EACH)]
            assert len(store.events(r.name)) == UPDATES_EACH
