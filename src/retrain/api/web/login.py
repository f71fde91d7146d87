"""The login form: the token stays in this tab's sessionStorage (dashboard.js sends it as a bearer token
on each action). It is never sent to the server by this form, and no cookie is set: see docs/dashboard.md."""

from __future__ import annotations

from typing import TYPE_CHECKING

from retrain.api.web.layout import Page

if TYPE_CHECKING:
    from retrain.api.web.routes import PageContext

_BODY = """<section class="login"><h1>Log in</h1>
<p>Reading is open. Actions (cancel, re-run, promote, rollback, manual runs) go to the API and need its
token: <code>RETRAIN_API_TOKEN</code> or <code>api.token</code> in the service's configuration.</p>
<form id="login-form" autocomplete="off">
<label>API token <input id="token" name="token" type="password" required></label>
<button type="submit">Keep for this tab</button> <button type="button" id="logout">Log out</button>
</form>
<p class="muted">The token is kept in this browser tab only (sessionStorage) and sent as
<code>Authorization: Bearer</code> with each action; closing the tab forgets it.</p>
<noscript><p class="error">Actions need JavaScript; reading does not.</p></noscript></section>"""


async def login_page(ctx: PageContext, args: list[str]) -> Page:
    return Page("Log in", _BODY)
