"""`retrain train` as a real process: what it leaves behind on success, failure, SIGTERM and SIGKILL.

Every run gets its own TMPDIR, and the test asserts that nothing is left there: the scratch directory lives
under `<registry>/.staging/`, is removed whenever the process can remove it, and is swept by the next run
after a SIGKILL. The executed notebook outlives the run only where it belongs: beside the registered
version, or (failed runs) under `.staging/failed/`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures.training_helpers import write_notebook
from retrain.registry import Registry

MODEL = "my-model"
WRITE_MODEL = (
    "import os, joblib\n"
    "from sklearn.dummy import DummyClassifier\n"
    "joblib.dump(DummyClassifier().fit([[0.0], [1.0]], [0, 1]),"
    " os.path.join(os.environ['MODEL_DIR'], 'model.pkl'))"
)


def hang(pid_file: Path) -> str:
    """A cell that says where it runs (the kernel's pid) and then blocks, so the test can signal the run."""
    return f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(120)"


def env_for(tmp_path: Path) -> dict[str, str]:
    scratch = tmp_path / "tmp"
    scratch.mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(scratch), "RETRAIN_REGISTRY": "", "RETRAIN_LOG_DIR": ""}


def command(tmp_path: Path, notebook: Path, *extra: str) -> list[str]:
    registry = tmp_path / "registry"
    args = ["train", MODEL, "--notebook-path", str(notebook), "--registry", str(registry), *extra]
    return [sys.executable, "-m", "retrain.cli.main", *args]


def run_train(tmp_path: Path, notebook: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(tmp_path, notebook, *extra),
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def staged(tmp_path: Path) -> list[str]:
    staging = tmp_path / "registry" / ".staging"
    return (
        sorted(p.name for p in staging.iterdir() if p.name.startswith("train-")) if staging.is_dir() else []
    )


def leftovers_in_tmp(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "tmp").iterdir())


def wait_for(path: Path, process: subprocess.Popen[str], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not (path.is_file() and path.read_text()):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def gone(pid: int, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_success_stores_the_executed_notebook_with_the_version_and_leaves_nothing(tmp_path: Path) -> None:
    notebook = write_notebook(tmp_path / "nb.ipynb", [WRITE_MODEL])
    done = run_train(tmp_path, notebook, "-o", "json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    info = Registry(tmp_path / "registry").get(MODEL, 1)
    assert summary["executed_notebook"] == str(info.path / "executed.ipynb")
    assert (summary["outcome"], summary["next_action"]) == (
        "registered",
        f"check it: retrain check {MODEL} --version 1",
    )
    assert info.executed_notebook is not None and info.executed_notebook.is_file()
    assert staged(tmp_path) == [] and leftovers_in_tmp(tmp_path) == []

    show = ["models", "show", MODEL, "1", "-o", "json", "--registry", str(tmp_path / "registry")]
    shown = subprocess.run(
        [sys.executable, "-m", "retrain.cli.main", *show],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    described = json.loads(shown.stdout)
    assert described["executed_notebook_path"] == str(info.executed_notebook)
    assert described["executed_notebook"]["sha256"] == info.metadata.get("executed_notebook", {}).get(
        "sha256"
    )


def test_a_failed_notebook_is_kept_under_staging_failed_and_the_scratch_is_removed(tmp_path: Path) -> None:
    notebook = write_notebook(tmp_path / "nb.ipynb", ["raise ValueError('bad data')"])
    done = run_train(tmp_path, notebook)
    assert done.returncode == 1
    assert "ValueError: bad data" in done.stderr
    kept = sorted((tmp_path / "registry" / ".staging" / "failed").glob(f"{MODEL}-*.executed.ipynb"))
    assert len(kept) == 1 and f"executed notebook: {kept[0]}" in done.stderr
    assert "bad data" in kept[0].read_text()
    assert staged(tmp_path) == [] and leftovers_in_tmp(tmp_path) == []
    assert MODEL not in Registry(tmp_path / "registry").models()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_mid_notebook_stops_the_kernel_and_removes_the_scratch(tmp_path: Path, signum: int) -> None:
    pid_file = tmp_path / "kernel.pid"
    notebook = write_notebook(tmp_path / "nb.ipynb", [hang(pid_file), WRITE_MODEL])
    process = subprocess.Popen(
        command(tmp_path, notebook),
        env=env_for(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(pid_file, process)
        assert len(staged(tmp_path)) == 1  # the run's scratch directory, while it runs
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
        process.communicate()  # reap it and close its pipes, also when the wait above timed out
    assert process.returncode == 128 + signum, err
    assert f"stopped by {signal.Signals(signum).name}; nothing was registered" in err
    assert gone(int(pid_file.read_text()), timeout_s=5)
    assert staged(tmp_path) == [] and leftovers_in_tmp(tmp_path) == []
    assert MODEL not in Registry(tmp_path / "registry").models()


def test_after_sigkill_the_kernel_exits_and_the_next_run_sweeps_the_scratch(tmp_path: Path) -> None:
    pid_file = tmp_path / "kernel.pid"
    hanging = write_notebook(tmp_path / "hang.ipynb", [hang(pid_file)])
    process = subprocess.Popen(
        command(tmp_path, hanging),
        env=env_for(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(pid_file, process)  # type: ignore[arg-type]
        process.kill()
        process.wait(timeout=30)
    finally:
        process.kill()
    left = staged(tmp_path)
    assert len(left) == 1  # SIGKILL: nobody could clean up
    assert gone(int(pid_file.read_text()))  # the orphaned kernel notices its parent is gone and exits

    done = run_train(tmp_path, write_notebook(tmp_path / "ok.ipynb", [WRITE_MODEL]))
    assert done.returncode == 0, done.stderr
    assert staged(tmp_path) == [] and leftovers_in_tmp(tmp_path) == []
    assert [v.version for v in Registry(tmp_path / "registry").versions(MODEL)] == [1]


def test_a_non_notebook_is_named_and_its_content_is_not_shown(tmp_path: Path) -> None:
    secret = tmp_path / "credentials.txt"
    secret.write_text("root:x:0:0:SECRET-TOKEN-123:/root:/bin/bash\n")
    for path in (secret, Path("/etc/passwd")):
        done = run_train(tmp_path, path)
        assert done.returncode == 2
        assert f"{path} is not a notebook" in done.stderr
        assert "SECRET-TOKEN" not in done.stderr and "root:" not in done.stderr
    assert leftovers_in_tmp(tmp_path) == []
