"""The base layout every page shares: nav bar, one CSS file, one JS file, and the 404/error pages."""

from __future__ import annotations

from dataclasses import dataclass

from retrain import __version__
from retrain.api.web.html import esc

NAV = (("runs", "/runs", "Runs"), ("models", "/models", "Models"), ("drift", "/drift", "Drift"),
       ("triggers", "/triggers", "Triggers"))  # fmt: skip


@dataclass(frozen=True)
class Page:
    """A page's title and body HTML (already escaped), the nav entry it belongs to, and its HTTP status."""

    title: str
    body: str
    nav: str | None = None
    status: int = 200


@dataclass(frozen=True)
class Json:
    """A JSON answer for the pages' own live updates (the API stays the place for integrations)."""

    data: object
    status: int = 200


def render(page: Page) -> str:
    links = "".join(
        f'<a href="{href}"{" aria-current=page" if key == page.nav else ""}>{label}</a>'
        for key, href, label in NAV
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(page.title)} · retrain</title>
<link rel="stylesheet" href="/static/dashboard.css?v={esc(__version__)}">
<script src="/static/dashboard.js?v={esc(__version__)}" defer></script>
</head><body>
<header class="top"><a class="brand" href="/">retrain</a><nav>{links}</nav>
<span class="session" id="session"><a href="/login">Log in</a></span></header>
<main>
<div id="flash" class="flash" role="status" hidden></div>
{page.body}
</main>
<footer>retrain {esc(__version__)} · <a href="/api/v1/openapi.json">API</a></footer>
</body></html>
"""


def not_found_page(message: str, hint: str | None = None) -> Page:
    body = (
        f'<section class="error-page"><h1>Not found</h1><p class="reason">{esc(message)}</p>'
        + (f'<p class="muted">{esc(hint)}</p>' if hint else "")
        + '<p><a class="button" href="/runs">Back to the runs</a></p></section>'
    )
    return Page("Not found", body, status=404)


def error_page(status: int, message: str, hint: str | None = None) -> Page:
    body = (
        f'<section class="error-page"><h1>{status}</h1><p class="reason">{esc(message)}</p>'
        + (f'<p class="muted">{esc(hint)}</p>' if hint else "")
        + '<p><a class="button" href="/runs">Back to the runs</a></p></section>'
    )
    return Page(f"Error {status}", body, status=status)
