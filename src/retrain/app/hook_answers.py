"""The answers the webhook receivers gave, kept for the dashboard's Triggers page.

The delivery log (`retrain.triggers.dedupe`) remembers only which deliveries were handled, not what each
was told, and forgets a refused one on purpose. This log keeps every answer of `/hooks/github` and
`/hooks/alertmanager` that reached a receiver: when, which receiver, the HTTP status, the runs and the
reason. It is a small JSON-lines file in the run store's home (`<home>/hook-answers.jsonl`), bounded: past
`MAX_BYTES` the newest `KEEP` lines are rewritten to a temporary file and renamed over it. Requests
refused before a receiver runs (bad signature, body too large, rate limit) are not in it: the HTTP layer
answers those alone.

The status follows the API's rule (`retrain.api.app.hook_answer`; a test keeps the two in step): 202 when
a run started or queued, 409 when every run was refused, 200 when nothing was to be done.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TypedDict

log = logging.getLogger(__name__)

FILE = "hook-answers.jsonl"
KEEP = 200
MAX_BYTES = 256 * 1024
_lock = threading.Lock()


class RunAnswerJSON(TypedDict):
    status: str  # started | queued | refused | ignored
    run: str | None
    reason: str


class AnswerJSON(TypedDict):
    at: str
    receiver: str  # github | alertmanager
    event: str  # the GitHub event or delivery id, the alert names: what arrived
    status: int
    reason: str
    runs: list[RunAnswerJSON]


def answer_status(outcomes: Sequence[str]) -> int:
    """The HTTP status of a receiver's answer from its launches' outcomes."""
    if any(o in ("started", "queued") for o in outcomes):
        return 202
    if any(o == "refused" for o in outcomes):
        return 409
    return 200


def answers_path(home: Path) -> Path:
    return home / FILE


def record_answer(
    home: Path,
    receiver: str,
    event: str,
    *,
    status: int,
    reason: str,
    runs: Sequence[RunAnswerJSON] = (),
    now: datetime | None = None,
) -> None:
    """Append one answer; a failure to write is logged, never raised (the webhook's answer stands)."""
    record: AnswerJSON = {
        "at": (now or datetime.now(UTC)).astimezone(UTC).isoformat(),
        "receiver": receiver,
        "event": event[:200],
        "status": status,
        "reason": reason[:1000],
        "runs": [dict(r) for r in runs[:20]],  # type: ignore[misc]
    }
    line = json.dumps(record, separators=(",", ":")) + "\n"
    path = answers_path(home)
    try:
        with _lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as out:
                out.write(line)
            if path.stat().st_size > MAX_BYTES:
                _trim(path)
    except OSError as err:
        log.warning("the answer to a %s webhook was not recorded in %s: %s", receiver, path, err)


def _trim(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)[-KEEP:]
    scratch = path.with_name(f".tmp-{path.name}.{os.getpid()}")
    scratch.write_text("".join(lines), encoding="utf-8")
    scratch.replace(path)


def recent_answers(home: Path, limit: int = 50) -> list[AnswerJSON]:
    """The newest `limit` answers, newest first; unreadable lines are skipped."""
    try:
        lines = answers_path(home).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    out: list[AnswerJSON] = []
    for line in reversed(lines):
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and {"at", "receiver", "status"} <= data.keys():
            out.append(data)  # type: ignore[arg-type]
        if len(out) >= limit:
            break
    return out
