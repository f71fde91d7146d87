"""Hot reload: promotions and rollbacks by other processes are followed; bad versions never replace good."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
import numpy as np

from fixtures.serving_helpers import ANOMALY, FORECAST, Served, corrupt, register, row, start, wait_until
from retrain.registry import Registry
from retrain.registry.aliases import write_aliases
from retrain.serving import BackgroundServer, ModelRepository, create_app, load_version

PROMOTE = (
    "import sys; from pathlib import Path; from retrain.registry import Registry; "
    "reg = Registry(Path(sys.argv[1]), actor='other-process'); "
    "reg.rollback(sys.argv[2]) if sys.argv[3] == 'rollback' else reg.promote(sys.argv[2], int(sys.argv[3]))"
)


def other_process(registry: Registry, action: str) -> None:
    """Promote (a version number) or roll back from a separate Python process, as `retrain deploy` would."""
    subprocess.run(
        [sys.executable, "-c", PROMOTE, str(registry.root), FORECAST, action], check=True, timeout=60
    )


def served_version(served: Served) -> str:
    response = served.client.post(f"/v1/models/{FORECAST}:predict", json={"instances": [row(FORECAST)]})
    assert response.status_code == 200, response.text
    return response.headers["x-model-version"]


def predictions(served: Served) -> Any:
    return served.client.post(f"/v1/models/{FORECAST}:predict", json={"instances": [row(FORECAST)]}).json()


def test_a_promotion_and_a_rollback_by_another_process_are_served_without_a_restart(served: Served) -> None:
    rows = np.asarray([row(FORECAST)])
    expected = {v: load_version(served.registry, FORECAST, v).predict(rows).tolist() for v in (1, 2)}
    assert served_version(served) == "1"
    other_process(served.registry, "2")
    wait_until(lambda: served_version(served) == "2", what="version 2 to serve")
    assert predictions(served) == {"predictions": expected[2]}
    assert served.client.get(f"/v2/models/{FORECAST}").json()["versions"] == ["2"]
    other_process(served.registry, "rollback")
    wait_until(lambda: served_version(served) == "1", what="the rollback to version 1")
    assert predictions(served) == {"predictions": expected[1]}


def test_the_load_hook_swaps_at_once_even_without_polling(registry: Registry) -> None:
    app = create_app(registry.root, poll_interval_s=None)  # only the explicit hook can reload
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url) as client:
        wait_until(lambda: client.get("/v2/health/ready").status_code == 200, what="ready")
        registry.promote(FORECAST, 3)
        answer = client.post(f"/v1/models/{FORECAST}:predict", json={"instances": [row(FORECAST)]})
        assert answer.headers["x-model-version"] == "1"  # no poll: nothing noticed yet
        loaded = client.post(f"/v2/repository/models/{FORECAST}/load")
        assert loaded.status_code == 200
        assert loaded.json() == {"name": FORECAST, "load": True, "model_version": "3"}
        answer = client.post(f"/v1/models/{FORECAST}:predict", json={"instances": [row(FORECAST)]})
        assert answer.headers["x-model-version"] == "3"
        unknown = client.post("/v2/repository/models/predictive-analytic/load")
        assert unknown.status_code == 404
        assert "did you mean 'predictive-analytics'?" in unknown.json()["error"]


def test_a_version_that_fails_its_digest_is_refused_and_the_old_one_keeps_serving(served: Served) -> None:
    registry = served.registry
    corrupt(registry, FORECAST, 2)
    # Registry.promote refuses a damaged artefact itself, so move the alias as a rogue writer would.
    write_aliases(registry.root / FORECAST / "aliases.json", {"serving": 2, "previous": 1})

    def detail() -> dict[str, Any]:
        body: dict[str, Any] = served.client.get(f"/v2/models/{FORECAST}/ready").json()
        return body

    wait_until(lambda: "reason" in detail(), what="the refusal to be reported")
    state = detail()
    assert state["ready"] is True and state["model_version"] == "1" and state["wanted_version"] == "2"
    assert "cannot load version 2" in state["reason"] and "digest mismatch" in state["reason"]
    assert served_version(served) == "1"
    assert served.client.get("/v2/health/ready").status_code == 200  # still serving, so still ready
    hook = served.client.post(f"/v2/repository/models/{FORECAST}/load")
    assert hook.status_code == 503
    assert "digest mismatch" in hook.json()["error"]
    assert hook.headers["x-model-version"] == "1"
    index = {m["name"]: m for m in served.client.post("/v2/repository/index").json()}
    assert "digest mismatch" in index[FORECAST]["reason"]
    assert (
        'retrain_serving_load_failures_total{model_name="predictive-analytics"}'
        in served.client.get("/metrics").text
    )
    # A good promotion afterwards is followed as usual.
    registry.promote(FORECAST, 3)
    wait_until(lambda: served_version(served) == "3", what="version 3 to serve")
    assert "reason" not in detail()


def test_a_version_that_does_not_fit_its_contract_is_refused(registry: Registry) -> None:
    # A forecaster (5 inputs) registered under the anomaly detector's 45-feature contract: the 4-vs-5 class.
    bad = register(registry, ANOMALY, registry.artefact_path(FORECAST, 1), contract_of=ANOMALY)
    repository = ModelRepository(registry, pinned={ANOMALY: bad}, poll_interval_s=None)
    repository.refresh()
    state = repository.state(ANOMALY)
    assert state is not None and not state.ready
    assert "the model takes 5 features but its feature contract names 45" in (state.error or "")


def test_requests_in_flight_finish_on_the_model_they_started_with(registry: Registry) -> None:
    with start(registry) as served:
        before = served.app.repository.state(FORECAST)
        assert before is not None and before.model is not None
        registry.promote(FORECAST, 2)
        wait_until(lambda: served_version(served) == "2", what="version 2 to serve")
        # The old LoadedModel is untouched by the swap: a request holding it still answers with version 1.
        assert before.model.version == 1
        rows = np.asarray([row(FORECAST)])
        assert (
            before.model.predict(rows).tolist() == load_version(registry, FORECAST, 1).predict(rows).tolist()
        )
        assert (
            before.model.predict(rows).tolist() != load_version(registry, FORECAST, 2).predict(rows).tolist()
        )
