"""The dashboard: server-rendered HTML pages served by `retrain serve` on the API's port (`/`, `/runs`, ...).

How it fits: `retrain.api.app.ApiApp` hands every GET/HEAD that is not under `/api/` or `/hooks/` to
`retrain.api.web.routes.WebApp`. Pages read through the application layer (`retrain.app.*`) and never change
anything themselves: every action (cancel, re-run, promote, ...) is a `fetch` from `static/dashboard.js` to
the JSON API with the bearer token the login page keeps in `sessionStorage` (see docs/dashboard.md: no
cookie, so no cross-site request can carry a credential).

Adding a page (for W2 and whoever comes next):
1. Write a function `async def my_page(ctx: PageContext, args: list[str]) -> Page` in a module of this
   package (`models.py`, `drift.py`, `triggers.py` are the placeholders for Models, Drift and Triggers).
   Build the body with `retrain.api.web.html` (`esc`, `table`, `empty_state`, ...) and return
   `Page(title, body_html, nav="models")`; `layout.render` wraps it in the base layout (nav bar, CSS, JS).
   Raise `retrain.errors.NotFound` for an unknown name: the 404 page with a way back is rendered for you.
2. Register it in `ROUTES` in `routes.py`: `(("models", "{}"), models.model_page)`; "{}" matches one path
   segment and arrives in `args`. A JSON helper for live updates returns `Json(data)` instead of a `Page`.
3. Static assets: add a file under `static/` (package data, shipped in the wheel; no CDN); it is served at
   `/static/<name>`. Keep JS progressive: every page must read well without it.
"""

from __future__ import annotations

from retrain.api.web.routes import WebApp, is_web_path

__all__ = ["WebApp", "is_web_path"]
