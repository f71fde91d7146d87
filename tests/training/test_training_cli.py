"""`retrain train` end to end through Typer's runner: real notebooks, real kernels, a real registry."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
from pathlib import Path

import joblib  # type: ignore[import-untyped]
import pytest
from typer.testing import CliRunner

from fixtures.prometheus import PrometheusServer
from fixtures.training_helpers import WRITE_MODEL, cli, write_notebook
from retrain.registry import NewVersionMetadata, Registry

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "notebooks" / "custom-model.ipynb"


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli(), ["train", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def base(tmp_path: Path) -> list[str]:
    return ["--registry", str(tmp_path / "registry"), "--work-dir", str(tmp_path / "work")]


def versions(tmp_path: Path, model: str) -> list[int]:
    registry = Registry(tmp_path / "registry")
    return [v.version for v in registry.versions(model)] if model in registry.models() else []


def test_anomaly_detector_is_registered_as_a_candidate_and_serving_is_untouched(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry")
    old = tmp_path / "old.pkl"
    joblib.dump({"not": "used"}, old)
    registry.register("anomaly-detector", old, NewVersionMetadata(trainer="seed"))
    registry.promote("anomaly-detector", 1)
    legacy = (tmp_path / "registry" / "anomaly-detector" / "model.pkl").read_bytes()
    results, logs = tmp_path / "results", tmp_path / "logs"

    code, out, err = invoke(
        "anomaly-detector",
        "--hours",
        "24",
        *base(tmp_path),
        "--results-dir",
        str(results),
        "--log-dir",
        str(logs),
        env={"RETRAIN_RUN_NAME": "run-42"},
    )
    assert code == 0, err
    assert "registered anomaly-detector version 2 (candidate; serving: version 1, unchanged)" in out
    assert (results / "model-version").read_text() == "2"
    info = registry.get("anomaly-detector", 2)
    assert (results / "model-path").read_text() == str(info.artefact)
    assert registry.aliases("anomaly-detector") == {"serving": 1}
    assert (tmp_path / "registry" / "anomaly-detector" / "model.pkl").read_bytes() == legacy

    meta = info.metadata
    assert meta["trainer"] == "sklearn:RobustScaler+IsolationForest"
    assert meta["notebook_path"] is not None and meta["notebook_path"].endswith("anomaly-detector.ipynb")
    assert meta["data_source_requested"] == meta["data_source_effective"] == "synthetic"
    assert meta["training_window"]["hours"] == 24.0
    assert meta["rows"] == {"fetched": 1440, "total": 1440, "train": 1080, "test": 360}
    assert meta["run"] == "run-42"
    assert meta["feature_contract"] is not None and meta["feature_contract"]["width"] == 45
    assert {"precision", "recall", "f1", "roc_auc"} <= set(meta["metrics"])
    extra = meta["extra"]
    assert len(extra["reference"]["features"]) == 45
    stored = meta.get("executed_notebook")
    assert stored is not None and stored["file"] == "executed.ipynb"
    assert info.executed_notebook == info.path / "executed.ipynb"
    notebook_bytes = info.executed_notebook.read_bytes()
    assert (
        hashlib.sha256(notebook_bytes).hexdigest() == stored["sha256"]
        and len(notebook_bytes) == stored["size"]
    )
    assert "injected-parameters" in notebook_bytes.decode()  # the notebook as it ran
    assert (logs / "anomaly-detector.executed.ipynb").read_bytes() == notebook_bytes  # --log-dir copy
    assert f"notebook: {info.executed_notebook}" in out
    assert extra["notebook_parameters"]["training_hours"] == 24.0
    assert [c["kind"] for c in extra["cells"]][:2] == ["parameters", "injected-parameters"]
    assert "fetch data: 1440 rows from synthetic" in err  # plain progress lines off a terminal
    assert not list((tmp_path / "work").iterdir())  # scratch removed; the notebook is in the log dir


def test_forecaster_with_gpu_records_where_it_trained(tmp_path: Path) -> None:
    from retrain.training.gpu import detect_cuda

    code, out, err = invoke("predictive-analytics", "--gpu", "-o", "json", *base(tmp_path))
    assert code == 0, err
    summary = json.loads(out)
    assert summary["version"] == 1 and summary["serving"] is None
    metrics = Registry(tmp_path / "registry").get("predictive-analytics", 1).metadata["metrics"]
    assert metrics["gpu_requested"] is True
    assert {"r2", "skill", "mae", "rmse", "per_target"} <= set(metrics)
    cuda = detect_cuda()
    assert metrics["gpu_used"] is cuda.available
    if not cuda.available:  # this machine: the CPU fallback, loudly
        assert metrics["gpu_fallback_reason"] == cuda.reason
        assert "WARNING" in err and "training on the CPU" in err
        assert summary["gpu"] == {
            "gpu_requested": True,
            "gpu_used": False,
            "gpu_fallback_reason": cuda.reason,
        }


def test_custom_model_from_the_example_notebook(tmp_path: Path) -> None:
    code, out, err = invoke("my-model", "--notebook-path", str(EXAMPLE), "--hours", "2", *base(tmp_path))
    assert code == 0, err
    assert "registered my-model version 1" in out
    info = Registry(tmp_path / "registry").get("my-model", 1)
    meta = info.metadata
    assert meta["trainer"] == "notebook:custom-model.ipynb"
    assert meta["metrics"]["rows"] == 120  # the notebook read TRAINING_HOURS from its environment
    assert meta["metrics"]["model_name"] == "my-model"  # and MODEL_NAME
    assert meta["feature_contract"] is not None and meta["feature_contract"]["feature_names"] == ["x0", "x1"]
    model = joblib.load(info.artefact)
    assert model.predict([[1.0, 0.0]]).shape == (1,)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["anomaly-detectr"], 2, "did you mean 'anomaly-detector'"),
        (["my-model"], 2, "give --notebook-path"),
        (["anomaly-detector", "--hours", "0"], 2, "training window must be between"),
        (["anomaly-detector", "--hours", "-5"], 2, "training window must be between"),
        (["predictive-analytics", "--hours", "2"], 2, "too short for predictive-analytics"),
        (["anomaly-detector", "--data-source", "promethus"], 2, "did you mean 'prometheus'"),
        (["my-model", "--notebook-path", "nowhere.ipynb"], 2, "does not exist"),
        (["my-model", "--notebook-path", "/etc/passwd"], 2, "/etc/passwd is not a notebook: it is not JSON"),
        (["anomaly-detector", "--anomaly-rate", "0.9"], 2, "anomaly rate must be between 0 and 0.5"),
    ],
)
def test_bad_input_registers_nothing(tmp_path: Path, args: list[str], code: int, needle: str) -> None:
    exit_code, _, err = invoke(*args, *base(tmp_path))
    assert exit_code == code
    assert needle in err
    assert "root:" not in err  # a file given as the notebook is named, never quoted
    assert not (tmp_path / "registry").exists()


def test_unreachable_prometheus_is_temporary(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    code, _, err = invoke(
        "anomaly-detector", "--data-source", "prometheus", "--prometheus-url", url, *base(tmp_path)
    )
    assert code == 75
    assert "127.0.0.1" in err
    assert not (tmp_path / "registry").exists()


def test_a_failing_notebook_names_its_cell_and_registers_nothing(tmp_path: Path) -> None:
    notebook = write_notebook(tmp_path / "nb.ipynb", ["x = 1", "raise KeyError('no such column')"])
    code, _, err = invoke("my-model", "--notebook-path", str(notebook), *base(tmp_path))
    assert code == 1
    assert "failed in cell 2" in err and "KeyError" in err and "no such column" in err
    assert "| raise KeyError('no such column')" in err
    assert "executed notebook:" in err
    assert not (tmp_path / "registry").exists()


def test_a_notebook_without_model_pkl_or_with_a_non_model_registers_nothing(tmp_path: Path) -> None:
    quiet = write_notebook(tmp_path / "quiet.ipynb", ["x = 1"])
    code, _, err = invoke("my-model", "--notebook-path", str(quiet), *base(tmp_path))
    assert code == 1 and "wrote no model.pkl into MODEL_DIR" in err
    data = write_notebook(
        tmp_path / "data.ipynb",
        [
            "import os, joblib\n"
            "joblib.dump({'weights': [1, 2]}, os.path.join(os.environ['MODEL_DIR'], 'model.pkl'))"
        ],
    )
    code, _, err = invoke("my-model", "--notebook-path", str(data), *base(tmp_path))
    assert code == 1 and "not a model: it has no predict method" in err
    assert not (tmp_path / "registry").exists()


def test_a_custom_notebook_for_a_builtin_name_must_answer_its_contract(tmp_path: Path) -> None:
    notebook = write_notebook(tmp_path / "mine.ipynb", [WRITE_MODEL])
    code, _, err = invoke(
        "anomaly-detector", "--notebook-path", str(notebook), "-p", "extra=1", *base(tmp_path)
    )
    assert code == 0, err
    meta = Registry(tmp_path / "registry").get("anomaly-detector", 1).metadata
    assert meta["trainer"] == "notebook:mine.ipynb"
    assert meta["feature_contract"] is not None and meta["feature_contract"]["width"] == 45
    assert meta["extra"]["notebook_parameters"] == {"extra": "1"}  # -p is passed even when undeclared


def test_the_cli_module_imports_no_ml_library() -> None:
    probe = (
        "import sys, retrain.cli.train\n"
        "heavy = [m for m in ('sklearn', 'pandas', 'numpy', 'papermill', 'xgboost') if m in sys.modules]\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=60)


def test_training_on_real_prometheus_data(tmp_path: Path, prometheus_server: PrometheusServer) -> None:
    code, _, err = invoke(
        "anomaly-detector",
        "--data-source",
        "prometheus",
        "--prometheus-url",
        prometheus_server.url,
        "--hours",
        "24",
        *base(tmp_path),
    )
    assert code == 0, err
    meta = Registry(tmp_path / "registry").get("anomaly-detector", 1).metadata
    assert meta["data_source_requested"] == meta["data_source_effective"] == "prometheus"
    assert meta["rows"]["fetched"] > 0
    metrics = meta["metrics"]
    assert metrics["f1"] is None and "no labelled rows" in metrics["evaluation_note"]  # real data: no labels
    assert 0 <= metrics["flagged_rate"] <= 1
    assert len(meta["extra"]["reference"]["features"]) == 45


def test_hybrid_falls_back_to_synthetic_and_says_so(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    code, _, err = invoke(
        "anomaly-detector", "--data-source", "hybrid", "--prometheus-url", url, *base(tmp_path)
    )
    assert code == 0, err
    assert "fell back" in err
    meta = Registry(tmp_path / "registry").get("anomaly-detector", 1).metadata
    assert meta["data_source_requested"] == "hybrid"
    assert meta["data_source_effective"] == "synthetic"
    assert "unreachable" in meta["extra"]["data_fallback_reason"]
