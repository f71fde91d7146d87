"""retrain.yaml: defaults, env overrides for secrets, requests built from it, and errors with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrain.errors import InvalidInput, InvalidInputs
from retrain.triggers.config import known_models, load_config, training_request

REPO = Path(__file__).resolve().parents[2]


def test_defaults_without_a_file() -> None:
    config = load_config(None, {})
    assert config.server.host == "127.0.0.1"
    assert config.server.port == 8080
    assert config.api.token is None
    assert config.hooks.github.branches == ["main"]
    assert config.hooks.github.path_prefix == "notebooks/"
    assert config.hooks.alertmanager.alertnames == ["ModelDrift"]
    assert config.hooks.alertmanager.model_label == "model"
    assert known_models(config) == ["anomaly-detector", "predictive-analytics"]


def test_secrets_come_from_the_environment_and_never_show(tmp_path: Path) -> None:
    path = tmp_path / "retrain.yaml"
    path.write_text("api:\n  token: from-file\n")
    env = {
        "RETRAIN_API_TOKEN": "from-env",
        "RETRAIN_GITHUB_WEBHOOK_SECRET": "gh",
        "RETRAIN_CONFIG": str(path),
    }
    config = load_config(path, env)
    assert config.api.token is not None
    assert config.api.token.get_secret_value() == "from-env"
    assert config.hooks.github.secret is not None
    assert config.hooks.github.secret.get_secret_value() == "gh"
    assert "from-env" not in repr(config)
    assert "gh'" not in repr(config)


def test_requests_follow_defaults_then_the_model_entry(tmp_path: Path) -> None:
    (tmp_path / "nb").mkdir()
    path = tmp_path / "retrain.yaml"
    path.write_text(
        """
defaults:
  data_source: prometheus
  prometheus_url: http://prom:9090
models:
  - name: predictive-analytics
    training_hours: 720
  - name: capacity
    notebook_path: nb/capacity.ipynb
    inference_service: capacity-svc
    gpu: false
"""
    )
    config = load_config(path, {})
    forecast = training_request(config, "predictive-analytics", "cron", serving_url="http://s")
    assert (forecast.training_hours, forecast.data_source) == ("720", "prometheus")
    assert forecast.prometheus_url == "http://prom:9090"
    assert forecast.serving_url == "http://s"
    assert forecast.pipeline == "model-training-pipeline-gpu"
    custom = training_request(config, "capacity", "api", serving_url="", policy="Forbid", training_hours="24")
    assert custom.notebook_path == str(tmp_path / "nb" / "capacity.ipynb")  # relative to the file
    assert custom.training_hours == "24"
    assert custom.annotations == {"retrain.dev/concurrency-policy": "Forbid"}
    assert custom.pipeline == "model-training-pipeline"
    assert "capacity" in known_models(config)


def test_problems_name_the_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "retrain.yaml"
    path.write_text(
        """server:
  port: 99999
hooks:
  github:
    branchs: [main]
models:
  - name: custom-thing
"""
    )
    with pytest.raises(InvalidInputs) as info:
        load_config(path, {})
    text = str(info.value)
    assert f"{path}:2: server.port" in text
    assert f"{path}:5: hooks.github.branchs: unknown field 'branchs' (did you mean 'branches'?)" in text


def test_a_custom_model_needs_its_notebook(tmp_path: Path) -> None:
    path = tmp_path / "retrain.yaml"
    path.write_text("models:\n  - name: anomaly-detector\n  - name: custom-thing\n")
    with pytest.raises(InvalidInput) as info:
        load_config(path, {})
    assert f"{path}:3: models[1]" in str(info.value)
    assert "--notebook-path" in str(info.value)


def test_malformed_yaml_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "retrain.yaml"
    path.write_text("server:\n  port: [1\n")
    with pytest.raises(InvalidInput, match="malformed YAML"):
        load_config(path, {})
    with pytest.raises(InvalidInput, match="cannot read the configuration"):
        load_config(tmp_path / "nope.yaml", {})
    path.write_text("- a\n- b\n")
    with pytest.raises(InvalidInput, match="must be a mapping"):
        load_config(path, {})


def test_the_example_configuration_loads() -> None:
    example = REPO / "examples" / "retrain.yaml"
    config = load_config(example, {"RETRAIN_API_TOKEN": "t"})
    assert config.source == example.resolve()
    assert {m.name for m in config.models} >= {"anomaly-detector", "predictive-analytics"}
