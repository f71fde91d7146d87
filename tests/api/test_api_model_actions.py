"""POST /api/v1/models/{model}/promote and /rollback: the registry's aliases move, with the token only."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from typing import Any

import httpx

from fixtures.registry_helpers import make_artefact, meta
from fixtures.service_helpers import TOKEN, platform
from retrain.api import openapi_document
from retrain.registry import Registry

MODEL = "anomaly-detector"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DOC = openapi_document()
jsonschema: Any = importlib.import_module("jsonschema")  # no type stubs; a test dependency


def _documented(answer: httpx.Response, verb: str) -> None:
    """The status is documented for the operation; a 200 body matches the AliasAnswer schema."""
    op = DOC["paths"][f"/api/v1/models/{{name}}/{verb}"]["post"]
    assert str(answer.status_code) in op["responses"], answer.status_code
    if answer.status_code == 200:
        jsonschema.validate(answer.json(), DOC["components"]["schemas"]["AliasAnswer"])


def test_promote_and_rollback_move_what_serves_and_need_the_token(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform(tmp_path) as p:
            reg = Registry(p.registry)
            for seed in range(2):
                reg.register(MODEL, make_artefact(tmp_path / "work", seed), meta())
            url = f"/api/v1/models/{MODEL}"

            refused = await p.client.post(f"{url}/promote", json={"version": 1})
            assert refused.status_code == 401, refused.text
            wrong = await p.client.post(
                f"{url}/promote", json={"version": 1}, headers={"Authorization": "Bearer x"}
            )
            assert wrong.status_code == 403
            assert "serving" not in reg.aliases(MODEL)

            first = await p.client.post(f"{url}/promote", json={"version": 1}, headers=AUTH)
            assert first.status_code == 200, first.text
            assert (first.json()["status"], first.json()["serving"]) == ("promoted", 1)
            _documented(first, "promote")
            _documented(refused, "promote")
            second = await p.client.post(
                f"{url}/promote", json={"version": 2, "reason": "better"}, headers=AUTH
            )
            assert (second.json()["serving"], second.json()["previous"]) == (2, 1)
            assert reg.aliases(MODEL) == {"serving": 2, "previous": 1}
            assert reg.history(MODEL)[-1].reason == "better"

            back = await p.client.post(f"{url}/rollback", headers=AUTH)
            assert back.status_code == 200, back.text
            assert (back.json()["status"], back.json()["serving"]) == ("rolled_back", 1)
            _documented(back, "rollback")
            assert reg.aliases(MODEL)["serving"] == 1

            missing = await p.client.post(f"{url}/promote", json={"version": 9}, headers=AUTH)
            assert missing.status_code == 404
            unknown = await p.client.post("/api/v1/models/nope/rollback", headers=AUTH)
            assert unknown.status_code == 404
            _documented(unknown, "rollback")
            bad = await p.client.post(f"{url}/promote", json={"version": "two"}, headers=AUTH)
            assert bad.status_code == 400
            assert reg.aliases(MODEL)["serving"] == 1

    asyncio.run(go())
