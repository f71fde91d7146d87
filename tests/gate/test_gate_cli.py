"""`retrain check` through Typer's runner, and the push to a real Pushgateway."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from fixtures.gate_models import ANOMALY, END, NaNPredictions, probe_environ, register
from fixtures.pushgateway import Pushgateway, scrape
from retrain.cli import check as check_cli
from retrain.errors import NotFound
from retrain.gate import GateOptions, check_version, publish
from retrain.gate.pushgateway import PushPolicy
from retrain.registry import Registry
from retrain.training.outputs import TrainResult


def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Only `check`, as the lead wires it into `retrain`."""

    check_cli.register(app)
    return app


def invoke(*args: str) -> tuple[int, str, str]:
    env = {"PYTHONPATH": probe_environ()["PYTHONPATH"], "PUSHGATEWAY_URL": "", "RETRAIN_RESULTS_DIR": ""}
    result = CliRunner().invoke(cli(), ["check", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def candidates(tmp_path: Path, good_anomaly: TrainResult) -> Registry:
    """Version 1: a good anomaly detector; version 2: one that answers NaN. Nothing serves."""
    registry = Registry(tmp_path / "registry")
    register(registry, ANOMALY, good_anomaly.model, tmp_path / "work", like=good_anomaly)
    register(registry, ANOMALY, NaNPredictions(), tmp_path / "work", like=good_anomaly)
    return registry


def version_files(registry: Registry, version: int) -> dict[str, bytes]:
    folder = registry.get(ANOMALY, version).path
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_blessed_version_writes_the_result_and_the_report_and_leaves_the_version_alone(
    candidates: Registry, tmp_path: Path, pushgateway: Pushgateway
) -> None:
    before = version_files(candidates, 1)
    results, report = tmp_path / "results", tmp_path / "out" / "gate-report.json"
    started = time.time()
    code, out, err = invoke(
        ANOMALY, "--version", "1", "--registry", str(candidates.root), "--results-dir", str(results),
        "--report", str(report), "--pushgateway", pushgateway.url, "--holdout-end", END.isoformat(),
    )  # fmt: skip
    assert code == 0, err
    assert (results / "verdict").read_bytes() == b"blessed"
    assert out.startswith("anomaly-detector version 1: BLESSED")
    data = json.loads(report.read_text())
    assert (data["model"], data["version"], data["verdict"], data["reasons"]) == (ANOMALY, 1, "blessed", [])
    names = [c["name"] for c in data["checks"]]
    assert names[:4] == ["artefact", "load", "contract", "predictions"]
    assert names[-2:] == ["infra", "push"]
    for check in data["checks"]:
        assert set(check) >= {"name", "outcome", "value", "threshold", "reason"}
    f1 = next(c for c in data["checks"] if c["name"] == "quality.f1")
    assert (f1["outcome"], f1["threshold"]) == ("passed", {"min": 0.15, "max": None})
    assert data["holdout"]["end"].startswith("2025-03-05T07:00:00")
    assert data["baseline"]["mode"] == "rubber-stamp"
    assert version_files(candidates, 1) == before  # the report never lands in the version
    candidates.verify(ANOMALY, 1)

    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in scrape(pushgateway.url)}
    group = (("instance", ""), ("job", "retrain_gate"), ("model", ANOMALY))
    assert samples[("retrain_gate_verdict", tuple(sorted((*group, ("version", "1")))))] == 1.0
    passed = tuple(sorted((*group, ("version", "1"), ("check", "quality.f1"))))
    assert samples[("retrain_gate_check_passed", passed)] == 1.0
    metric = tuple(sorted((*group, ("version", "1"), ("metric", "f1"))))
    assert samples[("retrain_model_metric", metric)] == f1["value"]
    stamp = samples[("retrain_gate_last_run_timestamp_seconds", tuple(sorted(group)))]
    assert started <= stamp <= time.time()
    push = next(c for c in data["checks"] if c["name"] == "push")
    assert (push["outcome"], push["blocking"]) == ("passed", False)


def test_a_rejected_version_exits_0_unless_asked_and_is_pushed_as_0(
    candidates: Registry, tmp_path: Path, pushgateway: Pushgateway
) -> None:
    base = [ANOMALY, "--version", "2", "--registry", str(candidates.root), "--results-dir", str(tmp_path)]
    code, out, _ = invoke(*base, "--pushgateway", pushgateway.url)
    assert code == 0
    assert (tmp_path / "verdict").read_text() == "rejected"
    assert "FAIL predictions" in out and "non-finite predictions (NaN)" in out
    pushed = {
        (s.name, s.labels.get("check")): s.value for s in scrape(pushgateway.url) if s.labels.get("model")
    }
    assert pushed[("retrain_gate_verdict", None)] == 0.0
    assert pushed[("retrain_gate_check_passed", "predictions")] == 0.0
    assert pushed[("retrain_gate_check_passed", "load")] == 1.0

    code, out, _ = invoke(*base, "--fail-on-reject", "-o", "json")
    assert code == 1
    data = json.loads(out)
    assert data["verdict"] == "rejected"
    rows = data["holdout"]["rows"]  # every held-out row answers NaN
    assert rows > 0
    assert data["reasons"] == [
        f"predictions: {rows} non-finite predictions (NaN) on {rows} held-out rows, the first in row 0"
    ]
    assert [e.event for e in candidates.history(ANOMALY)][-2:] == ["rejected", "rejected"]


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["nope-model", "--version", "1"], 3, "model 'nope-model' is not in the registry"),
        ([ANOMALY, "--version", "9"], 3, "has no version 9"),
        ([ANOMALY, "--version", "x"], 2, "--version must be a version number or 'serving'"),
        ([ANOMALY, "--version", "serving"], 3, "has no serving version"),
        ([ANOMALY, "--version", "1", "--baseline", "7"], 3, "has no version 7"),
    ],
)
def test_bad_input_exits_with_its_code_and_records_nothing(
    candidates: Registry, args: list[str], code: int, words: str
) -> None:
    exit_code, _, err = invoke(*args, "--registry", str(candidates.root))
    assert exit_code == code
    assert words in err
    assert [e.event for e in candidates.history(ANOMALY)] == ["registered", "registered"]


def test_a_bad_thresholds_file_exits_2_naming_its_line(candidates: Registry, tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("models:\n  anomaly-detector:\n    metrics:\n      f1: {minimum: 1}\n")
    code, _, err = invoke(
        ANOMALY, "--version", "1", "--registry", str(candidates.root), "--thresholds", str(path)
    )
    assert code == 2
    assert f"{path}:4: models.anomaly-detector.metrics.f1.minimum" in err


def test_a_push_that_fails_is_retried_reported_and_does_not_change_the_verdict(
    candidates: Registry, tmp_path: Path
) -> None:
    from fixtures.prometheus import free_port

    options = GateOptions(now=lambda: END, environ=probe_environ())
    report = check_version(candidates, ANOMALY, 2, options=options)
    waits: list[float] = []
    published = publish(
        report,
        pushgateway=f"http://127.0.0.1:{free_port()}",
        report_path=tmp_path / "report.json",
        results_dir=tmp_path,
        policy=PushPolicy(attempts=3, initial_s=0.5),
        sleep=waits.append,
    )
    push = published.report.check("push")
    assert push.failed and not push.blocking
    assert "(the verdict stands)" in push.reason and push.value == {"attempts": 3}
    assert waits == [0.5, 1.0]
    assert published.report.verdict == report.verdict == "rejected"
    assert published.report.reasons == report.reasons
    assert (tmp_path / "verdict").read_text() == "rejected"


def test_the_check_use_case_answers_the_verdict_the_reasons_and_what_to_do_next(
    candidates: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retrain.app.check import CheckRequest, check

    monkeypatch.setenv(
        "PYTHONPATH", probe_environ()["PYTHONPATH"]
    )  # the probe process unpickles NaNPredictions
    monkeypatch.delenv("PUSHGATEWAY_URL", raising=False)
    blessed = check(
        CheckRequest(ANOMALY, 1, registry=candidates.root, holdout_end=END, results_dir=tmp_path / "one")
    )
    assert (blessed.version, blessed.verdict, blessed.blessed, blessed.reasons) == (1, "blessed", True, ())
    assert blessed.verdict_path == tmp_path / "one" / "verdict"
    assert blessed.verdict_path.read_text() == "blessed"
    assert blessed.report_path is None
    assert blessed.next_action == f"deploy it: retrain deploy {ANOMALY} --version 1"

    rejected = check(
        CheckRequest(ANOMALY, 2, registry=candidates.root, holdout_end=END, report_path=tmp_path / "r.json")
    )
    assert (rejected.verdict, rejected.blessed) == ("rejected", False)
    assert rejected.reasons == tuple(rejected.report.reasons)
    rows = rejected.report.holdout["rows"] if rejected.report.holdout else 0
    assert rows > 0
    assert rejected.reasons[0].startswith(
        f"predictions: {rows} non-finite predictions (NaN) on {rows} held-out"
    )
    assert rejected.verdict_path is None
    assert json.loads((tmp_path / "r.json").read_text())["verdict"] == "rejected"
    assert rejected.next_action.startswith("version 2 stays out of service")
    assert [e.event for e in candidates.history(ANOMALY)][-1] == "rejected"

    with pytest.raises(NotFound, match="has no serving version"):
        check(CheckRequest(ANOMALY, None, registry=candidates.root))
