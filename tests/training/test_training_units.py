"""The pure parts of training: splits, the drift reference, CUDA detection, windows, model checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retrain.data.contracts import builtin_contract
from retrain.errors import InvalidInput, RunFailed
from retrain.training.builtin import builtin_notebook, check_window
from retrain.training.gpu import CudaStatus, DevicePlan, detect_cuda, plan_device
from retrain.training.reference import distribution_reference
from retrain.training.splits import blocked_holdout, run_ids, time_holdout
from retrain.training.validate import check_model


def test_time_holdout_takes_the_latest_rows_of_each_run_with_a_gap() -> None:
    runs = run_ids(pd.Series(["synthetic"] * 10 + ["prometheus"] * 10), 20)
    assert runs.tolist() == [0] * 10 + [1] * 10
    split = time_holdout(runs, 0.2, gap=2)
    assert np.flatnonzero(split.test).tolist() == [8, 9, 18, 19]
    assert np.flatnonzero(split.train).tolist() == [*range(6), *range(10, 16)]


def test_blocked_holdout_interleaves_blocks() -> None:
    split = blocked_holdout(16, block=2, every=4)
    assert np.flatnonzero(split.test).tolist() == [6, 7, 14, 15]
    assert split.train_rows == 12
    with pytest.raises(InvalidInput):
        blocked_holdout(16, block=2, every=1)


def test_reference_bins_count_every_row_and_merge_constant_features() -> None:
    rng = np.random.default_rng(0)
    matrix = np.column_stack([rng.normal(size=500), np.full(500, 3.0), rng.integers(0, 3, 500)])
    ref = distribution_reference(matrix, ["normal", "constant", "three-values"])
    normal, constant, few = (ref["features"][n] for n in ("normal", "constant", "three-values"))
    assert len(normal["counts"]) == 10 and sum(normal["counts"]) == 500
    assert max(normal["counts"]) - min(normal["counts"]) <= 2  # decile bins: equal shares
    assert constant["bin_edges"] == [3.0, 3.0] and constant["counts"] == [500]
    assert sum(few["counts"]) == 500 and len(few["bin_edges"]) == len(few["counts"]) + 1
    assert ref["quantile_levels"][0] == 0.0 and len(normal["quantiles"]) == len(ref["quantile_levels"])


def test_cuda_detection_names_the_reason() -> None:
    def none() -> tuple[int, str | None]:
        return 0, "no CUDA driver (test)"

    def one() -> tuple[int, str | None]:
        return 1, None

    assert detect_cuda({}, driver=none) == CudaStatus(False, 0, "no CUDA driver (test)")
    assert (
        detect_cuda({"CUDA_VISIBLE_DEVICES": ""}, driver=one).reason
        == "CUDA_VISIBLE_DEVICES='' hides every GPU"
    )
    assert detect_cuda({}, driver=one, library=lambda: "built without CUDA").reason == "built without CUDA"
    assert detect_cuda({}, driver=one, library=lambda: None) == CudaStatus(True, 1, None)
    # This machine, for real: either a usable GPU or a stated reason, never both.
    status = detect_cuda()
    assert status.available == (status.reason is None)


def test_device_plan_uses_the_gpu_only_when_asked_and_usable() -> None:
    assert plan_device(False, None) == DevicePlan(False, False, None)
    assert plan_device(True, CudaStatus(True, 2)) == DevicePlan(True, True, None)
    assert plan_device(True, CudaStatus(False, 0, "why")) == DevicePlan(True, False, "why")
    assert DevicePlan(True, False, "why").as_metrics() == {
        "gpu_requested": True,
        "gpu_used": False,
        "gpu_fallback_reason": "why",
    }


def test_windows_too_short_for_a_builtin_model_are_refused_with_the_minimum() -> None:
    check_window("anomaly-detector", 1, 60)
    check_window("predictive-analytics", 24, 60)
    check_window("my-custom-model", 0.1, 60)  # custom notebooks decide for themselves
    with pytest.raises(InvalidInput, match=r"at least \d+ h") as caught:
        check_window("predictive-analytics", 3, 60)
    assert caught.value.hint is not None and "--hours" in caught.value.hint
    with pytest.raises(InvalidInput, match="multiple of 5"):
        check_window("predictive-analytics", 24, 7)


def test_builtin_notebooks_ship_with_the_package() -> None:
    for model in ("anomaly-detector", "predictive-analytics"):
        assert builtin_notebook(model).is_file()
    with pytest.raises(InvalidInput, match="did you mean 'anomaly-detector'"):
        builtin_notebook("anomaly-detectr")


def test_check_model_wants_predict_and_the_contract_shape(tmp_path: Path) -> None:
    contract = builtin_contract("predictive-analytics")
    where = tmp_path / "model.pkl"

    class Echo:
        def predict(self, x: np.ndarray) -> np.ndarray:
            return np.asarray(x)

    class Broken:
        def predict(self, x: np.ndarray) -> np.ndarray:
            raise ZeroDivisionError("boom")

    class Flat:
        def predict(self, x: np.ndarray) -> np.ndarray:
            return np.zeros(len(x))

    check_model(Echo(), where, contract)
    check_model(Flat(), where, None)  # no contract: only predict is required
    with pytest.raises(RunFailed, match="not a model: it has no predict method"):
        check_model({"weights": [1, 2]}, where, contract)
    with pytest.raises(RunFailed, match=r"answered shape \(2,\), expected \(2, 5\)"):
        check_model(Flat(), where, contract)
    with pytest.raises(RunFailed, match="predict on 2 rows of the contract's 45 features failed"):
        check_model(Broken(), where, builtin_contract("anomaly-detector"))


def test_a_failed_runs_notebook_is_kept_and_only_the_newest_few(tmp_path: Path) -> None:
    from retrain.training.keep import KEEP_FAILED, keep_failed

    executed = tmp_path / "run" / "executed.ipynb"
    executed.parent.mkdir()
    executed.write_text("{}")
    (tmp_path / "run" / "executed.ipynb.kernel.log").write_text("kernel said")
    failed = tmp_path / "staging" / "failed"
    failed.mkdir(parents=True)
    for n in range(KEEP_FAILED + 2):  # older failures, oldest first by their stamps
        (failed / f"m-2020010{n}T000000Z-1.executed.ipynb").write_text("old")
    (failed / "m-1-20200101T000000Z-1.executed.ipynb").write_text("model m-1's")  # not model "m"
    kept = keep_failed(executed, "m", log_dir=None, parent=tmp_path / "staging")
    assert kept is not None and kept.parent == failed and kept.read_text() == "{}"
    assert kept.with_name(kept.name + ".kernel.log").read_text() == "kernel said"
    mine = sorted(p.name for p in failed.glob("m-2*.executed.ipynb"))  # m-1's starts "m-1-"
    assert len(mine) == KEEP_FAILED and kept.name == mine[-1]
    assert (failed / "m-1-20200101T000000Z-1.executed.ipynb").is_file()
    assert keep_failed(tmp_path / "none.ipynb", "m", log_dir=None, parent=tmp_path) is None
    logs = tmp_path / "logs"
    assert keep_failed(executed, "m", log_dir=logs, parent=tmp_path) == logs / "m.executed.ipynb"


def test_a_file_that_is_not_a_notebook_is_named_without_its_content(tmp_path: Path) -> None:
    from retrain.training.notebooks import read_notebook

    cases = {
        "text": b"user:SECRET-1:0:0\n",
        "json": b'{"password": "SECRET-2"}',
        "binary": b"\xff\xfeSECRET-3\x00",
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(InvalidInput, match=f"{path} is not a notebook") as caught:
            read_notebook(path)
        assert "SECRET" not in str(caught.value), str(caught.value)
