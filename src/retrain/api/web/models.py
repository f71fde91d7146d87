"""The Models page (placeholder: W2 replaces it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from retrain.api.web.html import empty_state
from retrain.api.web.layout import Page

if TYPE_CHECKING:
    from retrain.api.web.routes import PageContext


async def models_page(ctx: PageContext, args: list[str]) -> Page:
    return Page(
        "Models", "<h1>Models</h1>" + empty_state("Not built yet", "This page is coming."), nav="models"
    )
