"""The rendered site watches itself: a drift CronJob per model feeding the PrometheusRule, a health-check
schedule for every model, and a GitHub push trigger for every model, built-in ones included."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from retrain.cluster.manifests.monitoring import RULE_GROUPS
from retrain.cluster.render import catalog_documents, render
from retrain.cluster.values import SiteValues, drift_check_cron, load_values
from retrain.drift.exposition import HELP
from retrain.errors import InvalidInput, InvalidInputs

HA = Path(__file__).parents[2] / "examples" / "site-ha.yaml"
BUILTIN = ("anomaly-detector", "predictive-analytics")


def _docs(values: SiteValues, kind: str) -> list[dict[str, Any]]:
    tree = render(values, catalog_documents())
    return [d for docs in tree.files.values() for d in docs if d["kind"] == kind]


def _default() -> SiteValues:
    return load_values(None, namespace="ml")


def _drift_jobs(values: SiteValues) -> dict[str, dict[str, Any]]:
    jobs = [
        c for c in _docs(values, "CronJob") if c["metadata"]["labels"].get("retrain.dev/check") == "drift"
    ]
    return {c["metadata"]["labels"]["retrain.dev/model"]: c for c in jobs}


def test_default_render_has_a_drift_check_cronjob_per_builtin_model_that_pushes() -> None:
    values = _default()
    jobs = _drift_jobs(values)
    assert sorted(jobs) == list(BUILTIN)
    for model, cron in jobs.items():
        pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        script = container["command"][2]
        assert f"retrain drift check {model} " in script and '--pushgateway "$PUSHGATEWAY_URL"' in script
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["PUSHGATEWAY_URL"] == "http://pushgateway.ml.svc.cluster.local:9091"
        assert env["PROMETHEUS_URL"] == values.prometheus.url
        assert container["image"] == values.image and pod["serviceAccountName"] == "retrain-pipeline"
        claim = next(v for v in pod["volumes"] if v["name"] == "model-storage")["persistentVolumeClaim"]
        assert claim == {"claimName": "model-storage", "readOnly": True}
        assert {
            "name": "model-storage",
            "mountPath": "/var/lib/retrain/models",
            "readOnly": True,
        } in container["volumeMounts"]
        assert "--registry /var/lib/retrain/models" in script
        assert cron["spec"]["concurrencyPolicy"] == "Forbid"
        assert cron["spec"]["jobTemplate"]["spec"]["backoffLimit"] == 0
    # Hourly, the models a few minutes apart: well inside ModelDriftCheckStale's 3 hours.
    assert [c["spec"]["schedule"] for c in jobs.values()] == ["7 * * * *", "12 * * * *"]


def test_the_rule_watches_series_that_drift_check_pushes() -> None:
    exprs = " ".join(r["expr"] for g in RULE_GROUPS for r in g["rules"])
    watched = set(re.findall(r"retrain_\w+", exprs))
    assert watched and watched <= set(HELP), watched - set(HELP)


@pytest.mark.parametrize(("code", "expected"), [(0, 0), (5, 0), (3, 3), (75, 75)])
def test_drift_is_not_a_job_failure_but_a_broken_check_is(tmp_path: Path, code: int, expected: int) -> None:
    """The rendered wrapper, run by a real /bin/sh with a `retrain` that exits `code` and records its args."""
    (container,) = _drift_jobs(_default())["anomaly-detector"]["spec"]["jobTemplate"]["spec"]["template"][
        "spec"
    ]["containers"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "retrain"
    stub.write_text(f'#!/bin/sh\necho "$@" > "{tmp_path}/args"\nexit {code}\n')
    stub.chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", **{e["name"]: e["value"] for e in container["env"]}}
    done = subprocess.run(
        container["command"], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == expected, done.stderr
    args = (tmp_path / "args").read_text().split()
    assert args[:3] == ["drift", "check", "anomaly-detector"]
    assert args[args.index("--pushgateway") + 1] == "http://pushgateway.ml.svc.cluster.local:9091"
    if code == 5:
        assert "drifted" in done.stdout


def test_check_every_takes_a_duration_or_a_cron_and_refuses_what_makes_the_stale_alert_fire(
    tmp_path: Path,
) -> None:
    assert drift_check_cron("15m") == "*/15 * * * *"
    assert drift_check_cron("3h") == "7 */3 * * *"
    assert drift_check_cron("0 */2 * * *") == "0 */2 * * *"
    site = tmp_path / "site.yaml"
    site.write_text("namespace: ml\ndrift:\n  checkEvery: 6h\n")
    with pytest.raises((InvalidInput, InvalidInputs)) as err:
        load_values(site)
    text = str(err.value)
    assert "ModelDriftCheckStale" in text and "site.yaml:3" in text and "drift.checkEvery" in text
    site.write_text("namespace: ml\ndrift:\n  checks: false\n")
    assert _drift_jobs(load_values(site)) == {}


def _health_runs(values: SiteValues) -> dict[str, dict[str, Any]]:
    out = {}
    for config in _docs(values, "ConfigMap"):
        run = yaml.safe_load(config["data"]["pipelinerun.yaml"])
        if run["spec"]["pipelineRef"]["name"] == "model-health-check-pipeline":
            out[run["metadata"]["labels"]["retrain.dev/model"]] = run
    return out


def test_every_site_checks_every_models_health_daily() -> None:
    values = _default()
    crons = {c["metadata"]["name"]: c["spec"]["schedule"] for c in _docs(values, "CronJob")}
    assert crons["retrain-health-check-anomaly-detector"] == "30 6 * * *"
    assert crons["retrain-health-check-predictive-analytics"] == "30 7 * * *"
    assert sorted(_health_runs(values)) == list(BUILTIN)
    # The HA site schedules the anomaly detector's own; the other model still gets the default one.
    ha = load_values(HA)
    names = {c["metadata"]["name"] for c in _docs(ha, "CronJob")}
    assert "retrain-daily-health-anomaly-detector" in names
    assert "retrain-health-check-anomaly-detector" not in names
    assert "retrain-health-check-predictive-analytics" in names
    assert sorted(_health_runs(ha)) == list(BUILTIN)


def test_health_checks_can_be_turned_off_and_a_clashing_name_is_refused(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text("namespace: ml\nhealthCheck:\n  enabled: false\n")
    assert _health_runs(load_values(site)) == {}
    site.write_text(
        "namespace: ml\nschedules:\n  - name: health-check-anomaly-detector\n"
        "    model: anomaly-detector\n    cron: '0 1 * * *'\n"
    )
    with pytest.raises((InvalidInput, InvalidInputs)) as err:
        load_values(site)
    assert "default health-check schedule" in str(err.value) and "site.yaml:3" in str(err.value)


def test_the_github_listener_has_a_push_trigger_for_the_builtin_models() -> None:
    (listener,) = [d for d in _docs(_default(), "EventListener") if d["metadata"]["name"] == "retrain-github"]
    triggers = {t["name"]: t for t in listener["spec"]["triggers"]}
    assert sorted(triggers) == [f"git-push-{m}" for m in BUILTIN]
    for model in BUILTIN:
        github, cel = triggers[f"git-push-{model}"]["interceptors"]
        assert github["ref"]["name"] == "github"
        filter_ = next(p["value"] for p in cel["params"] if p["name"] == "filter")
        assert "body.ref == 'refs/heads/main'" in filter_
        assert "f.startsWith('notebooks/')" in filter_  # the path filter on the notebooks path
    # A custom notebook keeps its exact-path filter.
    ha = load_values(HA)
    (listener,) = [d for d in _docs(ha, "EventListener") if d["metadata"]["name"] == "retrain-github"]
    filters = " ".join(
        p["value"]
        for t in listener["spec"]["triggers"]
        for i in t["interceptors"]
        for p in i.get("params", [])
        if p["name"] == "filter"
    )
    assert "f == 'notebooks/02-anomaly-detection/01-isolation-forest-implementation.ipynb'" in filters
