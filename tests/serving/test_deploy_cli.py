"""`retrain deploy` and `retrain rollback` against a real inference server on 127.0.0.1 (or none at all)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from fixtures.serving_helpers import FORECAST, register, row, save, wait_until
from retrain.cli import deploy as deploy_cli
from retrain.registry import Registry
from retrain.serving import BackgroundServer, create_app, load_version


def invoke(*args: str) -> tuple[int, str, str]:
    app = typer.Typer()
    deploy_cli.register(app)  # the lead wires `register` into the real `retrain` app
    result = CliRunner().invoke(app, list(args), env={"RETRAIN_SERVING_URL": None, "RETRAIN_RUN_NAME": None})
    return result.exit_code, result.stdout, result.stderr


def free_url() -> str:
    """A 127.0.0.1 URL where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def common(registry: Registry, url: str) -> list[str]:
    return [
        "--target",
        "local",
        "--serving-url",
        url,
        "--inference-service",
        "",
        "--registry",
        str(registry.root),
    ]


@pytest.fixture
def hook_only(registry: Registry) -> Iterator[httpx.Client]:
    """A server that never polls the registry: only the reload hook can make it follow a change."""
    app = create_app(registry.root, poll_interval_s=None)
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        wait_until(lambda: client.get("/v2/health/ready").status_code == 200, what="server ready")
        yield client


def served_version(client: httpx.Client) -> str:
    answer = client.post(f"/v1/models/{FORECAST}:predict", json={"instances": [row(FORECAST)]})
    assert answer.status_code == 200, answer.text
    return answer.headers["x-model-version"]


def test_deploy_promotes_and_the_server_serves_the_new_version_at_once(
    registry: Registry, hook_only: httpx.Client
) -> None:
    url = str(hook_only.base_url).rstrip("/")
    code, out, err = invoke("deploy", FORECAST, "--version", "2", *common(registry, url), "--run", "run-7")
    assert code == 0, out + err
    assert err == ""
    assert f"{FORECAST}: version 2 serves in the registry" in out
    assert f"the server at {url} serves version 2 now" in out
    assert registry.aliases(FORECAST) == {"serving": 2, "previous": 1}
    event = registry.history(FORECAST)[-1]
    assert (event.event, event.version, event.previous, event.run) == ("promoted", 2, 1, "run-7")
    # No poll runs in this server: answering as version 2 right away proves that deploy told it.
    answer = hook_only.post(f"/v1/models/{FORECAST}:predict", json={"instances": [row(FORECAST)]})
    assert answer.headers["x-model-version"] == "2"
    expected = load_version(registry, FORECAST, 2).predict(np.asarray([row(FORECAST)]))
    assert answer.json() == {"predictions": expected.tolist()}


def test_deploy_with_no_server_running_warns_and_the_promotion_stands(registry: Registry) -> None:
    url = free_url()
    code, out, err = invoke("deploy", FORECAST, "--version", "3", *common(registry, url), "-o", "json")
    assert code == 0, out + err
    assert f"warning: no inference server answered at {url}" in err
    assert "The registry change stands: a server started later serves version 3" in err
    body = json.loads(out)
    assert (body["ok"], body["server"], body["version"], body["replaced"]) == (True, "unreachable", 3, 1)
    assert registry.aliases(FORECAST) == {"serving": 3, "previous": 1}


def test_deploy_to_kserve_without_a_cluster_is_refused_clearly_and_changes_nothing(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("KUBECONFIG", "RETRAIN_KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(registry.root))  # no ~/.kube/config either
    args = common(registry, free_url())
    args[1] = "kserve"
    code, _, err = invoke("deploy", FORECAST, "--version", "2", *args)
    assert code == 2
    assert "cannot read the Kubernetes configuration" in err
    assert registry.aliases(FORECAST) == {"serving": 1}


def test_deploy_of_an_unknown_version_exits_3(registry: Registry) -> None:
    code, _, err = invoke("deploy", FORECAST, "--version", "9", *common(registry, free_url()))
    assert code == 3
    assert "version 9" in err
    assert registry.aliases(FORECAST) == {"serving": 1}


def test_a_version_the_server_refuses_is_undone_and_the_old_one_keeps_serving(
    registry: Registry, hook_only: httpx.Client, tmp_path: Path
) -> None:
    # The registry takes any file; only loading it shows that this one is no model at all.
    version = register(registry, FORECAST, save({"not": "a model"}, tmp_path / "junk.pkl"))
    url = str(hook_only.base_url).rstrip("/")
    code, out, err = invoke("deploy", FORECAST, "--version", str(version), *common(registry, url))
    assert code == 1, out + err
    assert f"the server at {url} refused version {version}" in out
    assert "has no predict()" in out
    assert "deploy undone: the registry serves version 1 again" in out
    assert registry.aliases(FORECAST) == {"serving": 1}
    assert [e.event for e in registry.history(FORECAST)[-2:]] == ["promoted", "rolled_back"]
    assert served_version(hook_only) == "1"


def test_rollback_restores_the_previous_version_the_server_follows_and_a_rerun_is_a_no_op(
    registry: Registry, hook_only: httpx.Client
) -> None:
    url = str(hook_only.base_url).rstrip("/")
    assert invoke("deploy", FORECAST, "--version", "2", *common(registry, url))[0] == 0
    assert served_version(hook_only) == "2"
    reason = "post-deployment check failed in run-8"
    args = ("rollback", FORECAST, "--only-if-serving", "2", *common(registry, url), "--reason", reason)
    code, out, err = invoke(*args)
    assert code == 0, out + err
    assert f"{FORECAST}: version 1 serves in the registry" in out
    assert f"the server at {url} serves version 1 now" in out
    assert registry.aliases(FORECAST) == {"serving": 1}
    event = registry.history(FORECAST)[-1]
    assert (event.event, event.version, event.previous, event.reason) == ("rolled_back", 1, 2, reason)
    assert served_version(hook_only) == "1"  # no poll: the hook made it follow
    # The finally task may run again (a retry, a re-run): version 2 no longer serves, so nothing happens.
    events = len(registry.history(FORECAST))
    code, out, err = invoke(*args)
    assert code == 0, out + err
    assert "nothing to roll back: version 1 serves, not version 2" in out
    assert len(registry.history(FORECAST)) == events


def test_rollback_only_if_serving_another_version_changes_nothing(registry: Registry) -> None:
    registry.promote(FORECAST, 3)
    before = (registry.aliases(FORECAST), len(registry.history(FORECAST)))
    code, out, err = invoke("rollback", FORECAST, "--only-if-serving", "2", *common(registry, free_url()))
    assert code == 0, out + err
    assert "nothing to roll back: version 3 serves, not version 2" in out
    assert err == ""  # no server was contacted, so no warning either
    assert (registry.aliases(FORECAST), len(registry.history(FORECAST))) == before


def test_rollback_with_no_previous_version_exits_4(registry: Registry) -> None:
    code, _, err = invoke("rollback", FORECAST, "--only-if-serving", "1", *common(registry, free_url()))
    assert code == 4
    assert f"cannot roll back model {FORECAST!r}: there is no previous version (version 1 is serving)" in err
    assert registry.aliases(FORECAST) == {"serving": 1}
