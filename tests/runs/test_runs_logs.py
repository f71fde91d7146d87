"""Step logs: run order, reading, and following a run while lines and new step files appear."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from retrain.errors import NotFound
from retrain.runs import (
    LogSource,
    RunStore,
    TaskRunRecord,
    follow,
    follow_run,
    log_sources,
    read_logs,
    step_order,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RunStore]:
    with RunStore(tmp_path) as s:
        s.create_run(name="r", kind="PipelineRun", manifest={})
        yield s


def _taskrun(
    name: str, task: str, seconds: int, *, retry: int = 0, status: dict[str, Any] | None = None
) -> TaskRunRecord:
    return TaskRunRecord(
        name=name,
        run_name="r",
        pipeline_task=task,
        retry=retry,
        state="Running",
        reason=None,
        started_at=T0 + timedelta(seconds=seconds),
        completed_at=None,
        status=status or {},
        results={},
    )


def _write(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(text)


def test_step_order_follows_the_task_spec_then_names() -> None:
    status = {"taskSpec": {"steps": [{"name": "fetch"}, {"name": "train"}]}, "steps": [{"name": "report"}]}
    assert step_order(status, ["train", "zz", "fetch", "aa", "report"]) == [
        "fetch",
        "train",
        "report",
        "aa",
        "zz",
    ]
    assert step_order({"steps": [{"name": "b"}, {"name": "a"}]}, ["a", "b"]) == ["b", "a"]
    assert step_order({}, ["b", "a"]) == ["a", "b"]
    assert step_order({"steps": [{"name": "missing"}]}, ["a"]) == ["a"]  # only steps that have a log


def test_read_logs_in_run_order(store: RunStore) -> None:
    store.upsert_taskrun(_taskrun("r-check", "check", 20))
    store.upsert_taskrun(
        _taskrun("r-train", "train", 10, status={"steps": [{"name": "fit"}, {"name": "save"}]})
    )
    store.upsert_taskrun(_taskrun("r-check", "check", 30, retry=1))
    _write(store.step_log_path("r", "r-train", "save"), "saved\n")
    _write(store.step_log_path("r", "r-train", "fit"), "epoch 1\nepoch 2\n")
    _write(store.step_log_path("r", "r-check", "gate"), "rejected\r\n")
    _write(store.step_log_path("r", "r-check", "gate", retry=1), "blessed")  # no final newline
    _write(store.step_log_path("r", "r-orphan", "s"), "not in the store yet\n")
    assert list(read_logs(store, "r")) == [
        ("r-train", "fit", "epoch 1"),
        ("r-train", "fit", "epoch 2"),
        ("r-train", "save", "saved"),
        ("r-check", "gate", "rejected"),
        ("r-check", "gate", "blessed"),
        ("r-orphan", "s", "not in the store yet"),
    ]
    labels = [s.label for s in log_sources(store, "r")]
    assert labels == ["train/fit", "train/save", "check/gate", "check/gate, retry 1", "r-orphan/s"]


def test_logs_of_an_unknown_run(store: RunStore) -> None:
    with pytest.raises(NotFound):
        list(read_logs(store, "nope"))


def test_follow_sees_lines_and_files_that_appear_later(store: RunStore) -> None:
    store.upsert_taskrun(
        _taskrun("r-train", "train", 10, status={"steps": [{"name": "fit"}, {"name": "save"}]})
    )
    fit = store.step_log_path("r", "r-train", "fit")
    save = store.step_log_path("r", "r-train", "save")
    _write(fit, "old line\n")
    emitted: list[str] = []
    polls: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        polls.append(seconds)
        n = len(polls)
        if n == 1:
            _write(fit, "epoch 1\nepoch 2 ")  # the second line is unfinished
        elif n == 2:
            _write(fit, "done\n")
            _write(save, "saving\n")  # a new step's log file
        elif n == 3:
            _write(save, "saved")  # the run ends with a line without newline
            store.update_run("r", state="Succeeded", reason=None, status={}, completed=True)

    asyncio.run(follow_run(store, "r", emitted.append, poll_s=0.25, sleep=fake_sleep))

    assert emitted == [
        "[train/fit] old line",
        "[train/fit] epoch 1",
        "[train/fit] epoch 2 done",
        "[train/save] saving",
        "[train/save] saved",
    ]
    assert polls == [0.25, 0.25, 0.25]


def test_follow_reads_everything_written_before_done(tmp_path: Path) -> None:
    log = tmp_path / "s.log"
    source = LogSource("tr", "s", 0, "t/s", log)
    finished = False
    emitted: list[str] = []

    def is_done() -> bool:
        nonlocal finished
        done = finished
        if not finished:
            _write(log, "written as the run ends\n")  # between the done check and the last read
            finished = True
        return done

    async def no_sleep(seconds: float) -> None:
        return None

    asyncio.run(follow(lambda: [source], is_done, emitted.append, sleep=no_sleep))
    assert emitted == ["[t/s] written as the run ends"]


def test_follow_restarts_a_truncated_file(tmp_path: Path) -> None:
    log = tmp_path / "s.log"
    _write(log, "first version of a long line\n")
    source = LogSource("tr", "s", 0, "t/s", log)
    emitted: list[str] = []
    polls = 0

    async def sleep(seconds: float) -> None:
        nonlocal polls
        polls += 1
        log.write_text("new\n")

    asyncio.run(follow(lambda: [source], lambda: polls >= 1, emitted.append, sleep=sleep))
    assert emitted == ["[t/s] first version of a long line", "[t/s] new"]
