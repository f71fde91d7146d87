"""POST /hooks/github with real HMAC signatures: every kind of delivery gets its own honest answer."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from fixtures.service_helpers import ANOMALY, FORECAST, SECRET, platform, push

CONFIG = """
hooks:
  github:
    branches: [main, release]
models:
  - name: anomaly-detector
    notebook: notebooks/anomaly/train.ipynb
    data_source: synthetic
    training_hours: 24
"""


def test_a_push_touching_a_notebook_starts_that_model_and_a_replay_is_ignored(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform(tmp_path, CONFIG) as p:
            answer = await p.github(push("notebooks/anomaly/train.ipynb", "README.md"), delivery="d-1")
            assert answer.status_code == 202, answer.text
            body = answer.json()
            assert body["status"] == "started"
            assert body["run"].startswith(f"{ANOMALY}-git-push-")
            assert "notebooks/anomaly/train.ipynb" in body["reason"]
            await p.settle()
            record = p.store.get_run(body["run"])
            assert record.state == "Succeeded"
            assert record.labels["retrain.dev/trigger"] == "git-push"
            assert record.labels["retrain.dev/git-commit"] == "a" * 40
            assert record.labels["retrain.dev/github-delivery"] == "d-1"
            params = {x["name"]: x["value"] for x in record.manifest["spec"]["params"]}
            assert params["data-source"] == "synthetic"  # the model's configuration
            assert params["training-hours"] == "24"

            replay = await p.github(push("notebooks/anomaly/train.ipynb"), delivery="d-1")
            assert replay.status_code == 200
            assert replay.json()["status"] == "ignored"
            assert "already handled" in replay.json()["reason"]
            assert len(p.runs()) == 1

    asyncio.run(go())


def test_the_default_prefix_maps_notebooks_by_model_name(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform(tmp_path, CONFIG) as p:
            answer = await p.github(push(f"notebooks/{FORECAST}.ipynb", f"notebooks/{FORECAST}/features.py"))
            assert answer.status_code == 202, answer.text
            assert [r.labels["retrain.dev/model"] for r in p.runs()] == [FORECAST]
            # The anomaly detector's configured notebook replaces its default path.
            other = await p.github(push(f"notebooks/{ANOMALY}.ipynb"))
            assert other.status_code == 200
            assert other.json()["status"] == "ignored"

    asyncio.run(go())


def test_one_push_for_two_models_starts_both(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform(tmp_path, CONFIG) as p:
            answer = await p.github(push("notebooks/anomaly/train.ipynb", f"notebooks/{FORECAST}.ipynb"))
            assert answer.status_code == 202, answer.text
            runs = answer.json()["runs"]
            assert [r["status"] for r in runs] == ["started", "started"]
            assert {r.labels["retrain.dev/model"] for r in p.runs()} == {ANOMALY, FORECAST}

    asyncio.run(go())


def test_ignored_deliveries_say_why_and_start_nothing(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform(tmp_path, CONFIG) as p:
            other_path = await p.github(push("src/app.py", "docs/notebooks/x.ipynb"))
            other_branch = await p.github(push(f"notebooks/{FORECAST}.ipynb", branch="feature/x"))
            tag = await p.github({**push(f"notebooks/{FORECAST}.ipynb"), "ref": "refs/tags/v1"})
            deleted = await p.github({**push(f"notebooks/{FORECAST}.ipynb"), "deleted": True})
            ping = await p.github({"zen": "Keep it simple.", "hook_id": 1}, event="ping")
            issues = await p.github({"action": "opened"}, event="issues")
            for answer, words in (
                (other_path, "no watched notebook"),
                (other_branch, "only branches main, release"),
                (tag, "refs/tags/v1"),
                (deleted, "deleted"),
                (ping, "pong"),
                (issues, "not handled"),
            ):
                assert answer.status_code == 200, answer.text
                assert answer.json() == {
                    "status": "ignored",
                    "run": None,
                    "reason": answer.json()["reason"],
                    "runs": [],
                }
                assert words in answer.json()["reason"]
            release = await p.github(push(f"notebooks/{FORECAST}.ipynb", branch="release"))
            assert release.status_code == 202
            assert len(p.runs()) == 1

    asyncio.run(go())


def test_bad_or_missing_signatures_are_refused(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform(tmp_path, CONFIG) as p:
            payload = push(f"notebooks/{ANOMALY}.ipynb", "notebooks/anomaly/train.ipynb")
            missing = await p.github(payload, secret=None)
            wrong = await p.github(payload, secret="not-the-secret")
            raw = json.dumps(payload).encode()
            tampered = await p.github(
                payload,
                body=raw.replace(b"main", b"mainx"),
                headers={"X-Hub-Signature-256": _sign(raw)},
            )
            sha1 = await p.github(payload, headers={"X-Hub-Signature-256": "sha1=abc"})
            for answer in (missing, wrong, tampered, sha1):
                assert answer.status_code == 401, answer.text
                assert answer.json()["status"] == "unauthorized"
                assert answer.json()["run"] is None
                assert SECRET not in answer.text
            assert "not signed" in missing.json()["reason"]
            assert "does not match" in wrong.json()["reason"]
            assert p.runs() == []

    asyncio.run(go())


def test_without_a_configured_secret_the_receiver_is_closed(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform(tmp_path, CONFIG, env={}) as p:
            answer = await p.github(push("notebooks/anomaly/train.ipynb"))
            assert answer.status_code == 403
            assert "RETRAIN_GITHUB_WEBHOOK_SECRET" in answer.json()["reason"]
            assert p.runs() == []

    asyncio.run(go())


def test_malformed_deliveries_are_400_and_do_not_burn_the_delivery_id(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform(tmp_path, CONFIG) as p:
            not_json = await p.github(None, body=b"{not json", delivery="d-2")
            not_object = await p.github(["a"], delivery="d-2")
            no_ref = await p.github({"commits": []}, delivery="d-2")
            bad_commits = await p.github({"ref": "refs/heads/main", "commits": "x"}, delivery="d-2")
            no_event = await p.github(push("a"), headers={"X-GitHub-Event": ""})
            no_delivery = await p.github(push("a"), headers={"X-GitHub-Delivery": ""})
            bad_length = await p.github(push("a"), headers={"Content-Length": "abc"})
            for answer in (not_json, not_object, no_ref, bad_commits, no_event, no_delivery):
                assert answer.status_code == 400, answer.text
                assert answer.json()["status"] == "invalid"
            assert bad_length.status_code in (400, 413), bad_length.text
            assert "not valid JSON" in not_json.json()["reason"]
            assert "ref" in no_ref.json()["reason"]
            assert "commits" in bad_commits.json()["reason"]
            assert p.runs() == []
            # The same id, now well-formed, is handled: malformed attempts did not claim it.
            good = await p.github(push("notebooks/anomaly/train.ipynb"), delivery="d-2")
            assert good.status_code == 202, good.text

    asyncio.run(go())


def test_form_encoded_deliveries_are_read_too(tmp_path: Path) -> None:
    from urllib.parse import urlencode

    async def go() -> None:
        async with platform(tmp_path, CONFIG) as p:
            raw = urlencode({"payload": json.dumps(push("notebooks/anomaly/train.ipynb"))}).encode()
            answer = await p.github(
                None, body=raw, headers={"Content-Type": "application/x-www-form-urlencoded"}
            )
            assert answer.status_code == 202, answer.text

    asyncio.run(go())


def test_a_delivery_refused_by_forbid_is_409_and_may_be_redelivered(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform(tmp_path, CONFIG, policy="Forbid") as p:
            p.hold(ANOMALY)
            first = await p.github(push("notebooks/anomaly/train.ipynb"), delivery="first")
            assert first.status_code == 202
            refused = await p.github(push("notebooks/anomaly/train.ipynb"), delivery="second")
            assert refused.status_code == 409, refused.text
            body = refused.json()
            assert body["status"] == "refused"
            assert "Forbid" in body["reason"]
            assert p.store.get_run(body["run"]).reason == "Refused"
            p.release(ANOMALY)
            await p.settle()
            again = await p.github(push("notebooks/anomaly/train.ipynb"), delivery="second")
            assert again.status_code == 202, again.text

    asyncio.run(go())


def _sign(raw: bytes) -> str:
    from retrain.api import github_signature

    return github_signature(SECRET, raw)
