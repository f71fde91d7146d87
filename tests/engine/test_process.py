"""Running real steps, under bwrap (skipped where it cannot work) and in host mode."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from retrain.engine import process
from retrain.engine.process import StepLaunch, StepOutcome, run_step
from retrain.engine.sandbox import Mount, Sandbox, detect_sandbox
from retrain.engine.scripts import materialize_script
from retrain.errors import InvalidInput


@pytest.fixture(params=["bwrap", "host"])
def sandbox(request: pytest.FixtureRequest) -> Sandbox:
    if request.param == "host":
        return detect_sandbox(prefer="host")
    try:
        return detect_sandbox(prefer="bwrap")
    except InvalidInput as exc:
        pytest.skip(str(exc))


@pytest.fixture
def bwrap() -> Sandbox:
    try:
        return detect_sandbox(prefer="bwrap")
    except InvalidInput as exc:
        pytest.skip(str(exc))


@dataclass
class Step:
    """A step's directories, like a TaskRun's: workspace, results, home, scripts, log."""

    root: Path
    sandbox: Sandbox
    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in ("ws", "src", "results", "home", "scripts"):
            (self.root / name).mkdir()
        self.mounts = [
            Mount(self.root / "ws", "/workspace"),
            Mount(self.root / "src", "/workspace/source", read_only=True),
            Mount(self.root / "results", "/tekton/results"),
            Mount(self.root / "home", "/tekton/home"),
            Mount(self.root / "scripts", "/tekton/scripts", read_only=True),
        ]
        self.log = self.root / "logs" / "step.log"

    def visible(self, target: str) -> str:
        return self.sandbox.visible_path(next(m for m in self.mounts if m.target == target))

    def launch(
        self,
        script: str | None = None,
        *,
        argv: list[str] | None = None,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        working_dir: str | None = None,
        timeout_s: float | None = 30,
    ) -> StepLaunch:
        if script is not None:
            _, prefix = materialize_script(
                script, self.root / "scripts", 0, "s", visible_dir=self.visible("/tekton/scripts")
            )
            argv = [*prefix, *args]
        assert argv is not None
        home = {"HOME": self.visible("/tekton/home")}
        return StepLaunch(argv, {**home, **(env or {})}, working_dir, self.mounts, self.log, timeout_s, "s")

    def run(
        self,
        launch: StepLaunch,
        cancel: asyncio.Event | None = None,
        on_line: Callable[[str], None] | None = None,
    ) -> StepOutcome:
        async def main() -> StepOutcome:
            return await run_step(
                launch, self.sandbox, cancel=cancel or asyncio.Event(), on_line=on_line or self.lines.append
            )

        return asyncio.run(main())


@pytest.fixture
def step(tmp_path: Path, sandbox: Sandbox) -> Step:
    return Step(tmp_path, sandbox)


@pytest.fixture
def marker() -> Iterator[str]:
    """A unique `sleep` argument to find the step's processes by; kills leftovers if a test failed."""
    value = f"1000.{secrets.randbelow(10**9):09d}"
    yield value
    for pid in _pids_with(value):
        os.kill(pid, signal.SIGKILL)


def _pids_with(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _all_gone(text: str, within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while _pids_with(text):  # bounded polling of real processes
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# --- paths, shells, args, env -------------------------------------------------------------------------------


def test_container_paths_are_visible_under_bwrap(tmp_path: Path, bwrap: Sandbox) -> None:
    step = Step(tmp_path, bwrap)
    outcome = step.run(
        step.launch(
            "echo hello > /workspace/x\n"
            "printf ok > /tekton/results/verdict\n"
            'echo "home=$HOME pwd=$(pwd)"\n'
            "python -c 'import retrain; print(\"retrain imports\")'\n"
            "touch /tmp/only-in-the-sandbox-$$ /made-in-tmpfs\n"
        )
    )
    assert outcome.reason == "Completed", step.log.read_text()
    assert (tmp_path / "ws" / "x").read_text() == "hello\n"
    assert (tmp_path / "results" / "verdict").read_text() == "ok"
    assert step.lines[:2] == ["home=/tekton/home pwd=/workspace", "retrain imports"]
    assert not Path("/made-in-tmpfs").exists()


def test_read_only_mount_rejects_writes_under_bwrap(tmp_path: Path, bwrap: Sandbox) -> None:
    step = Step(tmp_path, bwrap)
    outcome = step.run(step.launch("echo nope > /workspace/source/file"))
    assert outcome.exit_code != 0
    assert "Read-only file system" in step.log.read_text()
    assert not (tmp_path / "src" / "file").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only a root step could try to remount")
def test_a_root_step_cannot_remount_a_read_only_workspace(tmp_path: Path, bwrap: Sandbox) -> None:
    step = Step(tmp_path, bwrap)
    outcome = step.run(step.launch("mount -o remount,rw,bind /workspace/source\ntouch /workspace/source/f"))
    assert outcome.exit_code != 0
    assert not (tmp_path / "src" / "f").exists()


def test_visible_paths_work_in_every_mode(step: Step) -> None:
    results = step.visible("/tekton/results")
    outcome = step.run(step.launch(f"printf 42 > {results}/answer\n"))
    assert outcome.reason == "Completed"
    assert (step.root / "results" / "answer").read_text() == "42"


def test_script_without_shebang_stops_at_the_first_failure(step: Step) -> None:
    outcome = step.run(step.launch("echo before\nfalse\necho after\n"))
    assert (outcome.exit_code, outcome.reason) == (1, "Error")
    assert step.lines == ["before"]


@pytest.mark.parametrize("shebang", ["#!/bin/sh\n", "", "#!/bin/bash\n", "#!/usr/bin/env bash\n"])
def test_double_brackets_and_args_work_whatever_the_shell(step: Step, shebang: str) -> None:
    script = shebang + 'if [[ "$1" == "a b" && -n "$2" ]]; then echo "matched $2"; else exit 3; fi\n'
    outcome = step.run(step.launch(script, args=("a b", "second")))
    assert outcome.reason == "Completed", step.log.read_text()
    assert step.lines == ["matched second"]


def test_sh_command_accepts_double_brackets(step: Step) -> None:
    outcome = step.run(step.launch(argv=["sh", "-c", '[[ "x" == x ]] && echo yes']))
    assert outcome.reason == "Completed", step.log.read_text()
    assert step.lines == ["yes"]


def test_working_dir_is_honoured_and_created(step: Step) -> None:
    outcome = step.run(step.launch("pwd", working_dir="/workspace/build/out"))
    assert outcome.reason == "Completed", step.log.read_text()
    assert (step.root / "ws" / "build" / "out").is_dir()
    expected = "/workspace/build/out" if step.sandbox.mode == "bwrap" else str(step.root / "ws/build/out")
    assert step.lines == [expected]


def test_default_working_dir_is_the_workspace(step: Step) -> None:
    step.run(step.launch("pwd"))
    assert step.lines == [step.visible("/workspace")]


def test_env_is_honoured_and_the_host_env_does_not_leak(step: Step, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRAIN_DATA_HOME", "/data/home")
    monkeypatch.setenv("HOST_SECRET_FOR_TEST", "leaked")
    outcome = step.run(step.launch("env", env={"GREETING": "hello world"}))
    assert outcome.reason == "Completed"
    env = dict(line.split("=", 1) for line in step.lines if "=" in line)
    assert env["GREETING"] == "hello world"
    assert env["RETRAIN_DATA_HOME"] == "/data/home"
    assert env["HOME"] == step.visible("/tekton/home")
    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent)
    assert "HOST_SECRET_FOR_TEST" not in env
    assert set(env) - {"PWD", "SHLVL", "_", "OLDPWD"} <= {
        "GREETING", "RETRAIN_DATA_HOME", "HOME", "PATH", "LANG", "LC_ALL", "TZ", process.TAG_VAR,
    }  # fmt: skip


# --- exit codes, logs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "code", "reason"),
    [("exit 0", 0, "Completed"), ("exit 7", 7, "Error"), ("kill -KILL $$", 137, "Error")],
)
def test_exit_codes(step: Step, command: str, code: int, reason: str) -> None:
    outcome = step.run(step.launch(command))
    assert (outcome.exit_code, outcome.reason, outcome.message) == (code, reason, "")


def test_log_gets_stdout_and_stderr_merged_in_order_and_is_appended(step: Step) -> None:
    step.log.parent.mkdir()
    step.log.write_bytes(b"earlier\n")
    step.run(step.launch("echo out\necho err >&2\necho out2\nprintf 'no newline'"))
    assert step.log.read_text() == "earlier\nout\nerr\nout2\nno newline\n"
    assert step.lines == ["out", "err", "out2", "no newline"]


def test_big_output_neither_deadlocks_nor_loses_lines(step: Step) -> None:
    line = "x" * 99
    outcome = step.run(step.launch(f"yes {line} | head -n 50000\nhead -c 3000000 /dev/zero | tr '\\0' y"))
    assert outcome.reason == "Completed"
    assert step.log.stat().st_size == 50000 * 100 + 3000000 + 1
    assert step.lines[:50000] == [line] * 50000
    assert "".join(step.lines[50000:]) == "y" * 3000000  # an endless line arrives in bounded pieces


def test_times_come_from_the_injected_clock(step: Step) -> None:
    ticks = iter([datetime(2030, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, 0, 0, 3, tzinfo=UTC)])

    async def main() -> StepOutcome:
        return await run_step(
            step.launch("true"), step.sandbox, cancel=asyncio.Event(), clock=lambda: next(ticks)
        )

    outcome = asyncio.run(main())
    assert outcome.finished_at - outcome.started_at == timedelta(seconds=3)


def test_real_clock_is_timezone_aware_utc(step: Step) -> None:
    outcome = step.run(step.launch("true"))
    assert outcome.started_at.tzinfo is UTC
    assert outcome.started_at <= outcome.finished_at


def test_a_step_with_nothing_to_run_is_invalid(step: Step) -> None:
    with pytest.raises(InvalidInput, match="nothing to run"):
        step.run(step.launch(argv=[]))


def test_a_command_that_cannot_start_is_an_error(tmp_path: Path) -> None:
    step = Step(tmp_path, detect_sandbox(prefer="host"))
    outcome = step.run(step.launch(argv=[str(tmp_path / "no-such-command")]))
    assert (outcome.exit_code, outcome.reason) == (127, "Error")
    assert "cannot start" in step.log.read_text()


# --- ending a step ------------------------------------------------------------------------------------------


def _tree_script(marker: str, *, foreground: bool = True) -> str:
    # A background child, a child that has left the session and group (waited for, so that the escape has
    # happened before the step is ended), and a foreground grandchild.
    return (
        f"sleep {marker} &\n"
        f"setsid sh -c 'echo $$ > \"$HOME/escaped.pid\"; exec sleep {marker}' >/dev/null 2>&1 </dev/null &\n"
        'until [ -s "$HOME/escaped.pid" ]; do sleep 0.01; done\n'
        "echo started\n" + (f"sh -c 'sleep {marker}'\n" if foreground else "")
    )


def test_timeout_kills_the_whole_tree(step: Step, marker: str) -> None:
    outcome = step.run(step.launch(_tree_script(marker), timeout_s=0.5))
    assert outcome.reason == "TimeoutExceeded"
    assert outcome.message == 'Step "s" exceeded its timeout of 500ms'
    assert outcome.exit_code == 128 + signal.SIGTERM
    assert _all_gone(marker)


def test_cancel_kills_the_whole_tree(step: Step, marker: str) -> None:
    cancel = asyncio.Event()
    outcome = step.run(
        step.launch(_tree_script(marker), timeout_s=None),
        cancel=cancel,
        on_line=lambda line: cancel.set() if line == "started" else None,
    )
    assert (outcome.reason, outcome.message) == ("Cancelled", 'Step "s" was cancelled')
    assert _all_gone(marker)


def test_a_step_that_exits_leaves_nothing_running(step: Step, marker: str) -> None:
    outcome = step.run(step.launch(_tree_script(marker, foreground=False)))
    assert outcome.reason == "Completed"
    assert step.lines == ["started"]
    assert _all_gone(marker)


def test_sigterm_comes_first_and_the_step_may_finish_within_the_grace(step: Step) -> None:
    script = "trap 'echo got-term; exit 3' TERM\necho started\nsleep 1000 &\nwait\n"
    cancel = asyncio.Event()

    def on_line(line: str) -> None:
        step.lines.append(line)
        if line == "started":
            cancel.set()

    outcome = step.run(step.launch(script), cancel=cancel, on_line=on_line)
    assert (outcome.exit_code, outcome.reason) == (3, "Cancelled")
    assert step.lines == ["started", "got-term"]


def test_sigkill_follows_when_the_step_ignores_sigterm(
    step: Step, marker: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(process, "TERM_GRACE_S", 0.2)
    outcome = step.run(step.launch(f"trap '' TERM\nsleep {marker}", timeout_s=0.3))
    assert (outcome.exit_code, outcome.reason) == (128 + signal.SIGKILL, "TimeoutExceeded")
    assert _all_gone(marker)


def test_cancelling_the_task_kills_the_tree(step: Step, marker: str) -> None:
    async def main() -> None:
        started = asyncio.Event()
        task = asyncio.create_task(
            run_step(
                step.launch(_tree_script(marker)),
                step.sandbox,
                cancel=asyncio.Event(),
                on_line=lambda line: started.set() if line == "started" else None,
            )
        )
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert _all_gone(marker)
