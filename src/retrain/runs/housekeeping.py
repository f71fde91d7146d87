"""The run store's housekeeping: pruning old runs, failing runs whose engine died, and admitting a run under
its concurrency policy, each in one transaction (RunStore.prune, recover_interrupted and admit_with).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from retrain.errors import InvalidInput
from retrain.runs import lifecycle
from retrain.runs.db import Database
from retrain.runs.records import FINISHED_STATES, AdmissionPlan, Contender
from retrain.runs.rows import run_row


def prune(db: Database, home: Path, *, keep: int) -> list[str]:
    if keep < 0:
        raise InvalidInput(f"keep must be 0 or more, not {keep}")
    with db.write() as conn:
        names = [
            row["name"]
            for row in conn.execute(
                "SELECT name FROM runs WHERE state IN ('Succeeded', 'Failed', 'Cancelled')"
                " ORDER BY created_at DESC, seq DESC LIMIT -1 OFFSET ?",
                (keep,),
            )
        ]
        conn.executemany("DELETE FROM runs WHERE name = ?", [(n,) for n in names])
    for name in names:
        shutil.rmtree(home / "runs" / name, ignore_errors=True)
    return names


def recover_interrupted(
    db: Database, clock: Callable[[], datetime], *, is_alive: Callable[[int], bool]
) -> list[str]:
    # Liveness is checked outside the write lock (it costs a system call or two per run); the write
    # transaction then takes only the runs that did not move on meanwhile.
    with db.read() as conn:
        rows = conn.execute(
            "SELECT name, state, engine_pid FROM runs WHERE state IN ('Pending', 'Running')"
        ).fetchall()
    gone = [(row["name"], row["engine_pid"]) for row in rows if lifecycle.engine_gone(row, is_alive)]
    recovered = []
    if gone:
        with db.write() as conn:
            for name, pid in gone:
                row = conn.execute(
                    "SELECT * FROM runs WHERE name = ? AND engine_pid IS ?"
                    " AND state IN ('Pending', 'Running')",
                    (name, pid),
                ).fetchone()
                if row is not None:
                    when = "it was marked failed at the next start"
                    lifecycle.interrupt(conn, row, at=clock(), when=when)
                    recovered.append(name)
    return recovered


def admit_with(
    db: Database,
    clock: Callable[[], datetime],
    name: str,
    key: str,
    decide: Callable[[Contender, list[Contender]], AdmissionPlan],
    *,
    is_alive: Callable[[int], bool],
) -> AdmissionPlan:
    with db.write() as conn:
        me = run_row(conn, name, db.path)
        if me["state"] in FINISHED_STATES:
            return AdmissionPlan("refused", f"run {name!r} already ended ({lifecycle.outcome(me)})")
        if me["state"] == "Running" or me["admitted"]:
            return AdmissionPlan("start", f"run {name!r} was already admitted")
        if me["concurrency_key"] is None:
            conn.execute("UPDATE runs SET concurrency_key = ? WHERE name = ?", (key, name))
        elif me["concurrency_key"] != key:
            raise InvalidInput(
                f"run {name!r} has concurrency key {me['concurrency_key']!r}, not {key!r}",
                hint="admit a run with the key it was created with",
            )
        rows = {}
        for row in conn.execute(
            "SELECT * FROM runs WHERE concurrency_key = ? AND name != ? AND state IN ('Pending', 'Running')",
            (key, name),
        ).fetchall():
            if row["engine_pid"] is not None and lifecycle.engine_gone(row, is_alive):
                when = f"it was marked failed when run {name!r} asked to start"
                lifecycle.interrupt(conn, row, at=clock(), when=when)
            else:
                rows[row["name"]] = row
        plan = decide(lifecycle.contender(me), [lifecycle.contender(row) for row in rows.values()])
        for other in plan.cancel:
            lifecycle.cancel(conn, rows[other], "Cancelled", at=clock())
        if plan.decision == "start":
            conn.execute("UPDATE runs SET admitted = 1 WHERE name = ?", (name,))
        elif plan.decision == "refused":
            lifecycle.finish(
                conn,
                me,
                at=clock(),
                state="Failed",
                reason=lifecycle.REFUSED,
                message=plan.reason,
                event="Warning",
            )
    return plan
