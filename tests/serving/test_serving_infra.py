"""Infra validation (LOAD_AND_QUERY): a candidate answers V1 and V2 in the real server, or we learn why."""

from __future__ import annotations

import numpy as np

from fixtures.serving_helpers import ANOMALY, FORECAST, corrupt, register, row
from retrain.registry import Registry
from retrain.serving import infra_validate, load_version


def test_a_good_candidate_answers_both_protocols_without_touching_the_serving_alias(
    registry: Registry,
) -> None:
    rows = [row(FORECAST, 0.1), row(FORECAST, 0.7)]
    report = infra_validate(registry.root, FORECAST, 3, rows)
    assert report.ok, report.problems
    assert (report.loaded, report.engine, report.load_error) == (True, "numpy", None)
    v1, v2 = report.queries
    assert (v1.protocol, v1.status, v1.model_version) == ("v1", 200, "3")
    assert (v2.protocol, v2.status, v2.model_version) == ("v2", 200, "3")
    expected = load_version(registry, FORECAST, 3).predict(np.asarray(rows))
    assert v1.outputs == expected.tolist()
    assert v2.outputs == expected.ravel().tolist()
    assert v1.seconds > 0 and report.load_seconds > 0
    assert registry.aliases(FORECAST)["serving"] == 1  # validation never promotes
    as_json = report.to_json()
    assert as_json["ok"] is True and as_json["queries"][0]["path"] == f"/v1/models/{FORECAST}:predict"


def test_a_candidate_with_a_bad_digest_fails_validation_with_the_reason(registry: Registry) -> None:
    corrupt(registry, FORECAST, 2)
    report = infra_validate(registry.root, FORECAST, 2, [row(FORECAST)])
    assert not report.ok
    assert not report.loaded
    assert report.load_error is not None and "digest mismatch" in report.load_error
    assert report.queries == ()


def test_rows_of_the_wrong_width_fail_validation_with_the_servers_400(registry: Registry) -> None:
    report = infra_validate(registry.root, ANOMALY, 1, [row(FORECAST)])
    assert report.loaded and not report.ok
    assert [q.status for q in report.queries] == [400, 400]
    assert "anomaly-detector expects 45 features per row" in report.problems[0]


def test_a_model_that_does_not_match_its_contract_fails_validation(registry: Registry) -> None:
    bad = register(registry, ANOMALY, registry.artefact_path(FORECAST, 1), contract_of=ANOMALY)
    report = infra_validate(registry.root, ANOMALY, bad, [row(ANOMALY)])
    assert not report.ok and not report.loaded
    assert "takes 5 features but its feature contract names 45" in (report.load_error or "")
