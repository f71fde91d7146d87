"""retrain.runs: the run store (SQLite, WAL) with step logs, events, concurrency admission and pruning."""

from retrain.runs.admission import (
    Admission,
    ConcurrencySpec,
    Policy,
    admit,
    decide,
    wait_for_admission,
)
from retrain.runs.home import default_home
from retrain.runs.logs import LogSource, follow, follow_run, log_sources, read_logs, step_order
from retrain.runs.records import (
    ACTIVE_STATES,
    FINISHED_STATES,
    CancelMode,
    EventRecord,
    EventType,
    RunKind,
    RunRecord,
    RunState,
    TaskRunRecord,
    utcnow,
)
from retrain.runs.store import RunStore, pid_alive

__all__ = [
    "ACTIVE_STATES",
    "FINISHED_STATES",
    "Admission",
    "CancelMode",
    "ConcurrencySpec",
    "EventRecord",
    "EventType",
    "LogSource",
    "Policy",
    "RunKind",
    "RunRecord",
    "RunState",
    "RunStore",
    "TaskRunRecord",
    "admit",
    "decide",
    "default_home",
    "follow",
    "follow_run",
    "log_sources",
    "pid_alive",
    "read_logs",
    "step_order",
    "utcnow",
    "wait_for_admission",
]
