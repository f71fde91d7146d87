"""Recording what each webhook receiver answered (`retrain.app.hook_answers` keeps the log).

`recorded` awaits a receiver's handling of one delivery and appends its answer to the log in the run
store's home: the status the API will send (`answer_status`) and the runs, or, when the receiver raised,
the error's status and message (the exception still propagates to the HTTP layer unchanged).
"""

from __future__ import annotations

from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from retrain.app.hook_answers import RunAnswerJSON, answer_status, record_answer
from retrain.asgi import status_for
from retrain.errors import RetrainError
from retrain.triggers.launcher import HookResult


async def recorded(home: Path, receiver: str, event: str, handling: Awaitable[HookResult]) -> HookResult:
    try:
        result = await handling
    except RetrainError as err:
        record_answer(home, receiver, event, status=status_for(err), reason=str(err))
        raise
    runs: list[RunAnswerJSON] = [
        {"status": x.outcome, "run": x.run, "reason": x.reason} for x in result.launches
    ]
    status = answer_status([x.outcome for x in result.launches])
    record_answer(home, receiver, event, status=status, reason=result.reason, runs=runs)
    return result


def alert_names(payload: Any) -> str:
    """What an Alertmanager notification carried, for the log: its alerts' names and models."""
    alerts = payload.get("alerts") if isinstance(payload, dict) else None
    if not isinstance(alerts, list):
        return "notification"
    names = []
    for alert in alerts[:5]:
        labels = alert.get("labels") if isinstance(alert, dict) else None
        if isinstance(labels, dict):
            status = alert.get("status", "")
            names.append(f"{labels.get('alertname', '?')} {labels.get('model', '')} {status}".strip())
    more = f" and {len(alerts) - 5} more" if len(alerts) > 5 else ""
    return (", ".join(names) or "notification") + more
