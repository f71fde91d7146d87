"""The papermill runner on real kernels: parameters, environment, failures, timeouts, the kept notebook."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from fixtures.training_helpers import write_notebook
from retrain.errors import InvalidInput, RunFailed
from retrain.training.notebooks import NotebookFailed, NotebookJob, declared_parameters, run_notebook


def test_parameters_and_environment_reach_the_notebook(tmp_path: Path) -> None:
    out = tmp_path / "seen.json"
    notebook = write_notebook(
        tmp_path / "nb.ipynb",
        [
            "import json, os, sys\n"
            f"json.dump({{'hours': training_hours, 'name': model_name, 'env': os.environ.get('MODEL_DIR'),"
            f" 'days': os.environ.get('TRAINING_DAYS'), 'python': sys.executable, 'cwd': os.getcwd()}},"
            f" open({str(out)!r}, 'w'))",
        ],
        parameters='model_name = "x"\ntraining_hours = 1.0',
    )
    started: list[tuple[int, int, str]] = []
    result = run_notebook(
        NotebookJob(
            notebook=notebook,
            output=tmp_path / "logs" / "nb.executed.ipynb",
            parameters={"model_name": "m", "training_hours": 24.0, "not_declared": 1},
            env={"MODEL_DIR": "/models/m", "TRAINING_DAYS": "1"},
        ),
        on_cell=lambda done, total, line: started.append((done, total, line)),
    )
    seen = json.loads(out.read_text())
    import sys

    assert seen == {
        "hours": 24.0,
        "name": "m",
        "env": "/models/m",
        "days": "1",
        "python": sys.executable,
        "cwd": str(tmp_path),
    }
    assert result.parameters == {"model_name": "m", "training_hours": 24.0}  # undeclared ones are left out
    assert result.executed.is_file() and result.kernel_log.is_file()
    kinds = [(c.index, c.kind, c.status) for c in result.cells]
    assert kinds == [
        (1, "parameters", "completed"),
        (None, "injected-parameters", "completed"),
        (2, "code", "completed"),
    ]
    assert all(c.duration_s is not None and c.duration_s >= 0 for c in result.cells)
    assert [s[:2] for s in started] == [(0, 3), (1, 3), (2, 3)]
    executed = nbformat.read(str(result.executed), as_version=4)  # type: ignore[no-untyped-call]
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)


def test_a_failing_cell_is_reported_with_index_excerpt_and_exception(tmp_path: Path) -> None:
    notebook = write_notebook(
        tmp_path / "bad.ipynb",
        ["x = 1", "y = x + 1\nraise ValueError(f'bad value {y}')\nz = 3"],
        parameters="seed = 1",
    )
    output = tmp_path / "bad.executed.ipynb"
    with pytest.raises(NotebookFailed) as caught:
        run_notebook(NotebookJob(notebook=notebook, output=output, parameters={"seed": 2}))
    err = caught.value
    assert isinstance(err, RunFailed)
    assert err.cell_index == 3  # markdown, parameters, "x = 1", then the failing cell
    assert err.ename == "ValueError" and err.evalue == "bad value 2"
    assert "raise ValueError" in err.excerpt
    text = str(err)
    assert "failed in cell 3" in text and "ValueError: bad value 2" in text
    assert f"executed notebook: {output}" in text
    assert output.is_file()  # kept, with the traceback in it


def test_a_cell_over_its_timeout_is_stopped_and_named(tmp_path: Path) -> None:
    notebook = write_notebook(tmp_path / "slow.ipynb", ["x = 1", "import time\ntime.sleep(60)"])
    with pytest.raises(
        NotebookFailed, match=r"cell 2 did not finish within the cell timeout of 1 s"
    ) as caught:
        run_notebook(NotebookJob(notebook=notebook, output=tmp_path / "slow.out.ipynb", cell_timeout_s=1))
    assert caught.value.cell_index == 2
    assert "time.sleep(60)" in caught.value.excerpt


def test_the_whole_notebook_has_a_timeout_too(tmp_path: Path) -> None:
    cells = ["import time\ntime.sleep(0.8)"] * 4
    notebook = write_notebook(tmp_path / "slowish.ipynb", cells)
    with pytest.raises(NotebookFailed, match=r"within the notebook's timeout of 2 s") as caught:
        run_notebook(
            NotebookJob(notebook=notebook, output=tmp_path / "o.ipynb", timeout_s=2, cell_timeout_s=30)
        )
    assert caught.value.cell_index in (2, 3, 4)


def test_unreadable_notebooks_are_bad_input(tmp_path: Path) -> None:
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json")
    for path in (broken, tmp_path / "missing.ipynb"):
        with pytest.raises(InvalidInput, match=str(path.name)):
            run_notebook(NotebookJob(notebook=path, output=tmp_path / "o.ipynb"))


def test_declared_parameters_are_the_top_level_names_of_the_tagged_cell(tmp_path: Path) -> None:
    notebook = write_notebook(
        tmp_path / "p.ipynb", ["other = 1"], parameters="a = 1\nb: int = 2\nif a:\n    c = 3\nd, e = 4, 5"
    )
    nb = nbformat.read(str(notebook), as_version=4)  # type: ignore[no-untyped-call]
    assert declared_parameters(nb) == ["a", "b"]
    untagged = write_notebook(tmp_path / "u.ipynb", ["a = 1"])
    assert declared_parameters(nbformat.read(str(untagged), as_version=4)) == []  # type: ignore[no-untyped-call]
