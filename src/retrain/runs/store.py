"""The run store: one SQLite database (WAL) plus a directory per run for workspaces, results and step logs.

Layout: `<home>/retrain.db`; `<home>/runs/<run>/` (the engine's: workspaces, results, scripts);
`<home>/runs/<run>/logs/<taskrun>/<step>.log`.

Any number of processes and threads may use it at once (see `retrain.runs.db`). The store's own endings
of a run (cancelled before start, refused, engine gone) are in `retrain.runs.lifecycle`; task runs and
events are `retrain.runs.taskrun_rows`; pruning, recovery and admission `retrain.runs.housekeeping`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from retrain.errors import Conflict, InvalidInput, Location
from retrain.runs import housekeeping, lifecycle, rows, taskrun_rows
from retrain.runs.db import Database
from retrain.runs.lifecycle import pid_alive
from retrain.runs.logs import step_log_file
from retrain.runs.queries import list_query
from retrain.runs.records import (
    CANCEL_MODES,
    FINISHED_STATES,
    RUN_KINDS,
    RUN_STATES,
    AdmissionPlan,
    CancelMode,
    Contender,
    EventRecord,
    RunKind,
    RunRecord,
    RunState,
    TaskRunRecord,
    check_name,
    dump_json,
    run_from_row,
    to_iso,
    utcnow,
)
from retrain.runs.rows import check_choice, run_row

__all__ = ["RunStore", "pid_alive"]


class RunStore:
    def __init__(
        self,
        home: Path,
        *,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self._home = Path(home)
        (self._home / "runs").mkdir(parents=True, exist_ok=True)
        self._db_path = self._home / "retrain.db"
        self._clock = clock
        self._rng = rng or random.SystemRandom()
        self._db = Database(self._db_path)

    @property
    def home(self) -> Path:
        return self._home

    @property
    def db_path(self) -> Path:
        return self._db_path

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- runs ---------------------------------------------------------------------------------------------

    def create_run(
        self,
        *,
        name: str,
        kind: RunKind,
        manifest: dict[str, Any],
        pipeline: str | None = None,
        labels: Mapping[str, str] | None = None,
        concurrency_key: str | None = None,
        state: RunState = "Pending",
        engine_pid: int | None = None,
    ) -> RunRecord:
        """Record a new run; Conflict if the name is taken. Pass `engine_pid` when this process runs it."""
        check_name(name, field="metadata.name")
        check_choice(kind, RUN_KINDS, "kind")
        check_choice(state, RUN_STATES, "state")
        labels = dict(labels or {})
        for key, value in labels.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise InvalidInput(
                    f"label {key!r}: {value!r} is not a string", location=Location(field="metadata.labels")
                )
        with self._db.write() as conn:
            # Stamped under the write lock, so creation times follow the order runs enter the store (the
            # order concurrency policies queue them in), even across processes.
            now = to_iso(self._clock())
            taken = conn.execute("SELECT created_at FROM runs WHERE name = ?", (name,)).fetchone()
            if taken is not None:
                raise Conflict(
                    f"a run named {name!r} already exists (created {taken['created_at']})",
                    hint="choose another name, or use metadata.generateName for a unique one",
                )
            conn.execute(
                "INSERT INTO runs (name, kind, pipeline, state, created_at, started_at, completed_at,"
                " manifest, labels, concurrency_key, engine_pid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    kind,
                    pipeline,
                    state,
                    now,
                    now if state == "Running" else None,
                    now if state in FINISHED_STATES else None,
                    dump_json(manifest),
                    dump_json(labels),
                    concurrency_key,
                    engine_pid,
                ),
            )
            row = conn.execute("SELECT * FROM runs WHERE name = ?", (name,)).fetchone()
        return run_from_row(row)

    def unique_name(self, generate_name: str) -> str:
        """Kubernetes generateName: the prefix (cut to 58 characters) plus 5 random characters, unused here.

        Another process may take the same name before this one creates it (one chance in 14 million);
        `create_run` then raises Conflict and the caller asks again.
        """
        return rows.unique_name(self._db, self._rng, generate_name)

    def mark_started(self, name: str, *, engine_pid: int) -> None:
        """The engine (process `engine_pid`) runs it now: state Running, started_at set once."""
        with self._db.write() as conn:
            row = run_row(conn, name, self._db_path)
            if row["state"] in FINISHED_STATES:
                raise Conflict(
                    f"run {name!r} already ended ({lifecycle.outcome(row)}); it cannot start again"
                )
            conn.execute(
                "UPDATE runs SET state = 'Running', engine_pid = ?, started_at = COALESCE(started_at, ?)"
                " WHERE name = ?",
                (engine_pid, to_iso(self._clock()), name),
            )

    def update_run(
        self,
        name: str,
        *,
        state: RunState,
        reason: str | None,
        status: dict[str, Any],
        completed: bool = False,
    ) -> None:
        """Write the engine's latest status. A finished state (Succeeded/Failed/Cancelled) sets completed_at
        once, whether or not `completed` is passed; a finished run cannot become active again (Conflict)."""
        check_choice(state, RUN_STATES, "state")
        if completed and state not in FINISHED_STATES:
            raise InvalidInput(f"run {name!r}: completed=True needs a finished state, not {state!r}")
        now = to_iso(self._clock())
        # One statement, no explicit transaction: the engine's hot path (~0.05 ms).
        with self._db.statement() as conn:
            updated = conn.execute(
                "UPDATE runs SET state = ?1, reason = ?2, status = ?3,"
                " started_at = CASE WHEN ?1 = 'Running' THEN COALESCE(started_at, ?4) ELSE started_at END,"
                " completed_at = CASE WHEN ?1 IN ('Succeeded', 'Failed', 'Cancelled')"
                " THEN COALESCE(completed_at, ?4) ELSE completed_at END"
                " WHERE name = ?5"
                " AND NOT (state IN ('Succeeded', 'Failed', 'Cancelled') AND ?1 IN ('Pending', 'Running'))",
                (state, reason, dump_json(status), now, name),
            ).rowcount
            if not updated:
                row = run_row(conn, name, self._db_path)
                raise Conflict(
                    f"run {name!r} already ended ({lifecycle.outcome(row)}); it cannot become {state}"
                )

    def replace_manifest(self, name: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        """Swap a run's recorded object (e.g. `spec.status` cleared by `retrain runs start`); Conflict when
        it is no longer `old` (another process changed it first), so only one of two such edits wins."""
        with self._db.write() as conn:
            row = run_row(conn, name, self._db_path)
            if json.loads(row["manifest"]) != old:
                raise Conflict(f"run {name!r} changed meanwhile", hint="look at it with `retrain runs show`")
            conn.execute("UPDATE runs SET manifest = ? WHERE name = ?", (dump_json(new), name))

    def get_run(self, name: str) -> RunRecord:
        with self._db.read() as conn:
            return run_from_row(run_row(conn, name, self._db_path))

    def list_runs(
        self,
        *,
        kind: RunKind | None = None,
        pipeline: str | None = None,
        state: RunState | None = None,
        label: Mapping[str, str] | None = None,
        limit: int | None = None,
        before: str | None = None,
    ) -> list[RunRecord]:
        """Runs matching every given filter (labels: all pairs must match), newest first; `before`: only
        runs created before that run (a page after it)."""
        if limit is not None and limit < 0:
            raise InvalidInput(f"limit must be 0 or more, not {limit}")
        sql, args = list_query(
            kind=kind, pipeline=pipeline, state=state, label=label or {}, limit=limit, before=before
        )
        with self._db.read() as conn:
            return [run_from_row(row) for row in conn.execute(sql, args)]

    # -- task runs and events -----------------------------------------------------------------------------

    def upsert_taskrun(self, rec: TaskRunRecord) -> None:
        """Insert or replace the task run (run_name, name, retry). Times not given are taken from the Tekton
        status (`startTime`, `completionTime`) when it has them."""
        taskrun_rows.upsert_taskrun(self._db, rec)

    def taskruns(self, run_name: str) -> list[TaskRunRecord]:
        """The run's task runs in start order (not yet started ones last), every retry as its own record."""
        return taskrun_rows.taskruns(self._db, run_name)

    def add_event(self, run_name: str, type: str, reason: str, message: str) -> None:
        taskrun_rows.add_event(self._db, run_name, type, reason, message, clock=self._clock)

    def events(self, run_name: str) -> list[EventRecord]:
        return taskrun_rows.events(self._db, run_name)

    # -- cancellation -------------------------------------------------------------------------------------

    def request_cancel(self, name: str, mode: CancelMode) -> None:
        """Ask the engine to stop the run. A Pending run no engine was told to start ends Cancelled at once.

        Conflict if the run already ended. Asking again replaces the mode (e.g. a graceful stop, then a
        hard cancel)."""
        check_choice(mode, CANCEL_MODES, "cancel mode")
        with self._db.write() as conn:
            row = run_row(conn, name, self._db_path)
            if row["state"] in FINISHED_STATES:
                raise Conflict(
                    f"run {name!r} already ended ({lifecycle.outcome(row)}); there is nothing to cancel",
                    hint="`retrain runs list --state Running` shows the runs that can be cancelled",
                )
            lifecycle.cancel(conn, row, mode, at=self._clock())

    def cancel_requested(self, name: str) -> str | None:
        """The cancel mode asked for, or None; cheap enough for the engine to poll."""
        with self._db.read() as conn:
            row = conn.execute("SELECT cancel_requested FROM runs WHERE name = ?", (name,)).fetchone()
            if row is None:
                run_row(conn, name, self._db_path)
        value: str | None = row["cancel_requested"]
        return value

    # -- files --------------------------------------------------------------------------------------------

    def run_dir(self, name: str) -> Path:
        """`<home>/runs/<name>/`, created: the engine keeps workspaces, results and scripts there."""
        path = self._home / "runs" / check_name(name, field="run name")
        path.mkdir(parents=True, exist_ok=True)
        return path

    def step_log_path(self, run_name: str, taskrun_name: str, step_name: str, *, retry: int = 0) -> Path:
        """`<run_dir>/logs/<taskrun>/<step>.log` (retry n > 0: `.../<taskrun>/retry-<n>/<step>.log`); the
        directory is created."""
        path = step_log_file(self.run_dir(run_name), taskrun_name, step_name, retry)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    # -- housekeeping -------------------------------------------------------------------------------------

    def prune(self, *, keep: int) -> list[str]:
        """Delete all but the newest `keep` finished runs (rows and run directories). Active runs stay."""
        return housekeeping.prune(self._db, self._home, keep=keep)

    def recover_interrupted(self, *, is_alive: Callable[[int], bool] = pid_alive) -> list[str]:
        """Fail the runs whose engine process is gone (Pending/Running with a dead engine_pid, or Running with
        none), and their unfinished task runs, with reason EngineInterrupted. Returns their names."""
        return housekeeping.recover_interrupted(self._db, self._clock, is_alive=is_alive)

    def admit_with(
        self,
        name: str,
        key: str,
        decide: Callable[[Contender, list[Contender]], AdmissionPlan],
        *,
        is_alive: Callable[[int], bool] = pid_alive,
    ) -> AdmissionPlan:
        """Apply a concurrency policy atomically (the seam `retrain.runs.admission.admit` uses).

        In one write transaction: read the run and the other active runs with `key`, fail those whose engine
        is gone, ask `decide`, then carry the plan out (cancel requests, admitted flag, or refusal)."""
        return housekeeping.admit_with(self._db, self._clock, name, key, decide, is_alive=is_alive)
