"""Tekton's feature flags on `retrain run`: --feature-flag KEY=VALUE and --feature-flags FILE (a ConfigMap),
validated; results-from/max-result-size decide how large results may be; the flags are recorded on the run
so `runs rerun` uses them again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures.engine_helpers import cli
from retrain.engine.feature_flags import ANNOTATION, DEFAULT_FLAGS, flags_of, parse_flags
from retrain.errors import InvalidInput
from retrain.runs.store import RunStore

# Two results of 3000 bytes: 6000 bytes in all (over the 4096-byte termination message), each under 4096.
LARGE = """
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: large
spec:
  taskSpec:
    results: [{name: one}, {name: two}]
    steps:
      - name: write
        image: alpine
        script: |
          head -c 3000 /dev/zero | tr '\\0' a > $(results.one.path)
          head -c 3000 /dev/zero | tr '\\0' b > $(results.two.path)
"""


def _run(tmp_path: Path, *flags: str) -> tuple[int, dict[str, object], str]:
    path = tmp_path / "large.yaml"
    path.write_text(LARGE)
    done = cli("run", "-q", "-o", "json", "-f", path, "--home", tmp_path / "home", *flags, timeout=120)
    docs = json.loads(done.stdout) if done.stdout.strip().startswith("[") else [{}]
    return done.returncode, docs[0], done.stderr


def test_termination_message_limits_the_total_of_the_results(tmp_path: Path) -> None:
    rc, doc, _ = _run(tmp_path)
    assert rc != 0 and doc["reason"] == "TaskRunResultLargerThanAllowedLimit"
    assert "above max allowed size 4096" in str(doc["message"])


def test_sidecar_logs_limits_each_result_and_is_kept_for_rerun(tmp_path: Path) -> None:
    rc, doc, err = _run(tmp_path, "--feature-flag", "results-from=sidecar-logs")
    assert rc == 0 and doc["succeeded"] is True, (doc, err)
    store = RunStore(tmp_path / "home")
    annotations = store.get_run("large").manifest["metadata"]["annotations"]
    assert json.loads(annotations[ANNOTATION]) == {"results-from": "sidecar-logs"}
    again = cli("runs", "rerun", "large", "-q", "-o", "json", "--home", tmp_path / "home", timeout=120)
    assert again.returncode == 0 and '"succeeded": true' in again.stdout, again.stdout + again.stderr


def test_max_result_size_applies_to_each_sidecar_result(tmp_path: Path) -> None:
    rc, doc, _ = _run(
        tmp_path, "--feature-flag", "results-from=sidecar-logs", "--feature-flag", "max-result-size=2048"
    )
    assert rc != 0 and doc["reason"] == "TaskRunResultLargerThanAllowedLimit"
    message = str(doc["message"])
    assert 'result "one"' in message and "results size exceeds configured limit of 2048 bytes" in message


def test_a_feature_flags_configmap_file(tmp_path: Path) -> None:
    flags = tmp_path / "flags.yaml"
    flags.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: feature-flags}\n"
        'data: {results-from: sidecar-logs, enable-api-fields: "alpha"}\n'
    )
    rc, doc, err = _run(tmp_path, "--feature-flags", str(flags))
    assert rc == 0 and doc["succeeded"] is True, (doc, err)
    flags.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\ndata: {}\n")
    rc, _, err = _run(tmp_path, "--feature-flags", str(flags))
    assert rc == 2 and "not 'feature-flags'" in err and "flags.yaml" in err


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("enable-api-field=alpha", "unknown or locally unsupported feature flag 'enable-api-field'"),
        ("enable-api-fields=gamma", 'invalid value for feature flag "enable-api-fields"'),
        ("results-from=stdout", 'invalid value for feature flag "results-from"'),
        ("max-result-size=2MB", "is not a number of bytes"),
        ("max-result-size=1572864", "the CRD size limit"),
        ("enable-artifacts=yes", "is not a boolean"),
        ("results-from", "is not KEY=VALUE"),
    ],
)
def test_bad_flags_are_clear_errors(tmp_path: Path, flag: str, message: str) -> None:
    rc, _, err = _run(tmp_path, "--feature-flag", flag)
    assert rc == 2 and message in err, err
    assert not (tmp_path / "home" / "runs").is_dir() or not any((tmp_path / "home" / "runs").iterdir())


def test_unknown_keys_list_the_known_ones() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_flags({"coschedule": "workspaces"})
    assert caught.value.hint is not None
    for known in ("enable-api-fields", "results-from", "max-result-size", "enable-cel-in-whenexpression"):
        assert known in caught.value.hint


def test_defaults_are_tektons() -> None:
    assert flags_of({}) == DEFAULT_FLAGS
    assert DEFAULT_FLAGS.as_map() == {
        "enable-api-fields": "beta",
        "results-from": "termination-message",
        "max-result-size": "4096",
        "enable-cel-in-whenexpression": "false",
        "enable-artifacts": "false",
    }


def test_the_example_feature_flags_file_is_tektons_alpha_ci_set() -> None:
    from retrain.engine.feature_flags import read_configmap

    example = Path(__file__).resolve().parents[2] / "examples" / "feature-flags.yaml"
    flags = parse_flags(read_configmap(example))
    assert flags.enable_api_fields == "alpha" and flags.results_from == "sidecar-logs"
