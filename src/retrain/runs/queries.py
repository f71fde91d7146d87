"""Pure parts of the run store's reads: the list query with its filters, and "did you mean" suggestions."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence


def list_query(
    *,
    kind: str | None,
    pipeline: str | None,
    state: str | None,
    label: Mapping[str, str],
    limit: int | None,
    before: str | None = None,
) -> tuple[str, list[object]]:
    """SQL and arguments for `RunStore.list_runs`: every filter must hold; newest first (creation order
    breaks ties between equal timestamps). `before`: only runs older than that run (keyset paging: the
    index on (created_at, seq) finds the page without counting the runs before it)."""
    clauses: list[str] = []
    args: list[object] = []
    for column, value in (("kind", kind), ("pipeline", pipeline), ("state", state)):
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    for key, value in label.items():
        # labels is a JSON object; json_each keeps keys such as `tekton.dev/pipeline` free of path syntax.
        clauses.append("EXISTS (SELECT 1 FROM json_each(runs.labels) AS l WHERE l.key = ? AND l.value = ?)")
        args.extend((key, value))
    if before is not None:
        clauses.append("(created_at, seq) < (SELECT created_at, seq FROM runs WHERE name = ?)")
        args.append(before)
    sql = "SELECT * FROM runs"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += " ORDER BY created_at DESC, seq DESC"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    return sql, args


def did_you_mean(name: str, known: Sequence[str]) -> str:
    """A hint for an unknown run name: runs it is a prefix of (a generateName), then close spellings."""
    candidates = [k for k in known if k.startswith(name)][:3]
    for close in difflib.get_close_matches(name, known, n=3, cutoff=0.6):
        if close not in candidates:
            candidates.append(close)
    candidates = candidates[:3]
    if not candidates:
        return "`retrain runs list` shows the runs there are"
    spelled = " or ".join(repr(c) for c in candidates)
    return f"did you mean {spelled}? `retrain runs list` shows the runs there are"
