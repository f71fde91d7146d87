"""Small HTML building blocks: everything that reaches a page from data goes through `esc`."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from urllib.parse import quote, urlencode

_SPECIAL = re.compile(r"[&<>\"']")


def esc(value: object) -> str:
    """Text safe in element content and in double-quoted attributes."""
    text = "" if value is None else str(value)
    return html.escape(text, quote=True) if _SPECIAL.search(text) else text


def href(*parts: str, query: dict[str, str] | None = None) -> str:
    """An escaped link to `/part/part?...`, each part URL-quoted."""
    path = "/" + "/".join(quote(p, safe="") for p in parts)
    if query:
        path += "?" + urlencode({k: v for k, v in query.items() if v})
    return esc(path)


def when(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    iso = moment.isoformat()  # digits, '-', ':', '.', '+' and 'T' only: nothing to escape
    return f'<time datetime="{iso}">{iso[:19].replace("T", " ")}</time>'


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def state_badge(state: str | None) -> str:
    name = state or "Unknown"
    return f'<span class="state state-{esc(name.lower())}">{esc(name)}</span>'


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, cls: str = "") -> str:
    """A table of already-escaped cells; `data-label` lets the narrow layout show each cell's header."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f'<td data-label="{esc(h)}">{c}</td>' for h, c in zip(headers, row, strict=True))
        + "</tr>"
        for row in rows
    )
    return f'<table class="{esc(cls)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def pairs(items: Iterable[tuple[str, str]]) -> str:
    """A definition list of name/value pairs (values escaped here)."""
    inner = "".join(f"<dt>{esc(k)}</dt><dd><code>{esc(v)}</code></dd>" for k, v in items)
    return f'<dl class="pairs">{inner}</dl>' if inner else '<p class="muted">none</p>'


def empty_state(title: str, what_to_do: str) -> str:
    """What a page shows with nothing to list: what it would show, and what to do first."""
    return f'<div class="empty"><h2>{esc(title)}</h2><p>{what_to_do}</p></div>'
