"""Bodies are JSON: a webhook delivery or an API write declared as anything else is 415 with what to set, and
nothing runs; GitHub's other content type (form-encoded `payload=`) is still read."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import urlencode

import pytest

from fixtures.service_helpers import AM_TOKEN, ANOMALY, TOKEN, alert, alert_payload, platform, push

CONFIG = "models:\n  - name: anomaly-detector\n"
NOT_JSON = [
    "text/plain",
    "application/octet-stream",
    "multipart/form-data; boundary=x",
    "application/xml",
    "",
]


@pytest.mark.parametrize("content_type", NOT_JSON)
def test_a_github_delivery_that_is_not_json_is_415(tmp_path: Path, content_type: str) -> None:
    async def go() -> None:
        async with platform(tmp_path, CONFIG) as p:
            body = json.dumps(push(f"notebooks/{ANOMALY}.ipynb")).encode()
            answer = await p.github(None, body=body, headers={"Content-Type": content_type})
            assert answer.status_code == 415, answer.text
            reason = answer.json()["reason"]
            assert answer.json()["status"] == "unsupported-media-type"
            assert "the GitHub webhook reads JSON bodies only" in reason
            assert "set the webhook's 'Content type' to application/json in GitHub's settings" in reason
            assert p.runs() == []

    asyncio.run(go())


def test_github_json_with_a_charset_and_form_encoded_deliveries_are_read(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform(tmp_path, CONFIG) as p:
            payload = push(f"notebooks/{ANOMALY}.ipynb")
            charset = await p.github(payload, headers={"Content-Type": "application/json; charset=utf-8"})
            assert charset.status_code == 202, charset.text
            await p.settle()
            form = urlencode({"payload": json.dumps(push(f"notebooks/{ANOMALY}.ipynb", after="b" * 40))})
            answer = await p.github(
                None, body=form.encode(), headers={"Content-Type": "application/x-www-form-urlencoded"}
            )
            assert answer.status_code == 202, answer.text
            await p.settle()
            assert len(p.runs()) == 2

    asyncio.run(go())


@pytest.mark.parametrize("content_type", NOT_JSON)
def test_an_alertmanager_delivery_that_is_not_json_is_415(tmp_path: Path, content_type: str) -> None:
    async def go() -> None:
        async with platform(tmp_path, CONFIG) as p:
            answer = await p.client.post(
                "/hooks/alertmanager",
                content=json.dumps(alert_payload(alert(ANOMALY))),
                headers={"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": content_type},
            )
            assert answer.status_code == 415, answer.text
            reason = answer.json()["reason"]
            assert "the Alertmanager webhook reads JSON bodies only" in reason
            assert "'Content-Type: application/json'" in reason
            assert p.runs() == []
            # Credentials come first: without the token the answer is 401 whatever the body.
            anonymous = await p.client.post(
                "/hooks/alertmanager", content=b"x", headers={"Content-Type": content_type}
            )
            assert anonymous.status_code == 401

    asyncio.run(go())


def test_api_writes_that_are_not_json_are_415(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform(tmp_path, CONFIG) as p:
            auth = {"Authorization": f"Bearer {TOKEN}"}
            form = await p.client.post("/api/v1/runs", data={"model": ANOMALY}, headers=auth)
            assert form.status_code == 415, form.text
            assert "POST /api/v1/runs reads JSON bodies only" in form.json()["reason"]
            assert "application/x-www-form-urlencoded" in form.json()["reason"]
            cancel = await p.client.post(
                "/api/v1/runs/x/cancel",
                content=b"mode=Cancelled",
                headers={**auth, "Content-Type": "text/plain"},
            )
            assert cancel.status_code == 415, cancel.text
            assert p.runs() == []

    asyncio.run(go())
