"""The dashboard in a real browser: Debian's chromium driven by Playwright (executable_path, no download)
against a real `retrain serve`, with real pipelines run by the real `retrain run` into the same run store.

Screenshots of each page go to docs/dashboard/*.png when RETRAIN_DASHBOARD_SCREENSHOTS=1.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
if CHROMIUM is None:
    pytest.skip(
        "NO CHROMIUM: the dashboard's browser tests need Debian's `chromium` (apt-get install chromium; "
        ".ci/run installs it)",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

RETRAIN = [sys.executable, "-m", "retrain.cli.main"]
TOKEN = "dashboard-test-token"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "dashboard"
WAIT_MS = 60_000  # generous: the machine running the tests may be loaded
expect.set_options(timeout=WAIT_MS)  # assertions wait for their condition as long as actions do (not 5 s)

FAILING = """
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: demo}
spec:
  tasks:
    - name: fetch
      taskSpec:
        results: [{name: rows}]
        steps:
          - name: get
            image: busybox
            script: |
              echo fetched 42 rows
              printf 42 > $(results.rows.path)
    - name: train
      runAfter: [fetch]
      params: [{name: rows, value: "$(tasks.fetch.results.rows)"}]
      taskSpec:
        params: [{name: rows}]
        steps:
          - name: fit
            image: busybox
            script: |
              echo training on $(params.rows) rows
              echo "boom: the loss is NaN" >&2
              exit 3
  finally:
    - name: report
      taskSpec:
        steps:
          - name: say
            image: busybox
            script: echo report sent
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: demo-fail}
spec:
  pipelineRef: {name: demo}
"""

# A task that runs until it is cancelled (bounded, so nothing outlives a broken test), logging as it goes.
LONG = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: demo-live}
spec:
  pipelineSpec:
    tasks:
      - name: prepare
        taskSpec:
          steps:
            - name: go
              image: busybox
              script: echo prepared
      - name: hold
        runAfter: [prepare]
        taskSpec:
          steps:
            - name: wait
              image: busybox
              script: |
                i=0
                while [ $i -lt 600 ]; do echo "tick $i"; i=$((i+1)); sleep 0.5; done
      - name: after
        runAfter: [hold]
        taskSpec:
          steps:
            - name: done
              image: busybox
              script: echo never
"""


@dataclass(frozen=True)
class Served:
    url: str
    home: Path


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETRAIN_")}
    return {**env, "RETRAIN_HOME": str(home), "RETRAIN_API_TOKEN": TOKEN}


def _wait(predicate: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    home = tmp_path / "home"
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [*RETRAIN, "serve", "--port", "0", "--registry", str(tmp_path / "reg"), "--home", str(home)],
            env=_env(home),
            stdout=subprocess.DEVNULL,
            stderr=sink,
            start_new_session=True,
        )
    record = home / "serve.json"

    def up() -> bool:
        assert proc.poll() is None, log.read_text()
        return record.exists()

    try:
        _wait(up, "retrain serve to record where it listens")
        yield Served(json.loads(record.read_text())["url"], home)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        # --no-sandbox: CI runs as root, where chromium's own sandbox refuses to start.
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


def _shot(page: Page, name: str, *, width: int | None = None) -> None:
    if os.environ.get("RETRAIN_DASHBOARD_SCREENSHOTS") != "1":
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    if width is not None:
        page.set_viewport_size({"width": width, "height": 900})
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    if width is not None:
        page.set_viewport_size({"width": 1280, "height": 900})


def _run_file(tmp: Path, home: Path, text: str) -> subprocess.Popen[bytes]:
    path = tmp / "run.yaml"
    path.write_text(text)
    return subprocess.Popen(
        [*RETRAIN, "run", "-q", "--sandbox", "host", "-f", str(path), "--home", str(home)],
        env=_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def test_a_failing_run_shows_its_graph_cause_and_logs(served: Served, page: Page, tmp_path: Path) -> None:
    proc = _run_file(tmp_path, served.home, FAILING)
    assert proc.wait(timeout=120) == 1  # the run failed, as written

    page.goto(served.url + "/")
    expect(page.locator("table.runs")).to_contain_text("demo-fail")
    expect(page.locator("table.runs tbody tr").first).to_contain_text("Failed")
    _shot(page, "runs")

    page.locator("table.runs a", has_text="demo-fail").click()
    expect(page).to_have_url(served.url + "/runs/demo-fail")
    expect(page.locator("#task-fetch")).to_have_attribute("data-state", "Succeeded")
    expect(page.locator("#task-train")).to_have_attribute("data-state", "Failed")
    expect(page.locator("#task-report")).to_have_attribute("data-state", "Succeeded")
    failure = page.locator("#failure")
    expect(failure).to_contain_text("train › fit")
    expect(failure).to_contain_text("exited with code 3")
    expect(failure.locator("pre.tail")).to_contain_text("boom: the loss is NaN")
    expect(page.locator("table.tasks")).to_contain_text("exit 3")
    # every step's log arrives through the stream, which ends with the run's outcome
    log = page.locator("#log")
    expect(log).to_have_attribute("data-ended", "true")
    for line in (
        "[fetch/get] fetched 42 rows",
        "[train/fit] training on 42 rows",
        "[report/say] report sent",
    ):
        expect(log).to_contain_text(line)
    expect(page.locator("#log-status")).to_contain_text("the run ended Failed")
    page.locator("#log-filter").fill("boom")
    expect(log).to_have_text("[train/fit] boom: the loss is NaN")
    page.locator("#log-filter").fill("")
    _shot(page, "run-failed")
    _shot(page, "run-failed-narrow", width=420)


def test_a_running_run_updates_live_and_cancel_needs_the_token(
    served: Served, page: Page, tmp_path: Path
) -> None:
    proc = _run_file(tmp_path, served.home, LONG)
    try:

        def holding() -> bool:
            answer = httpx.get(served.url + "/runs/demo-live/live.json", timeout=10)
            return answer.status_code == 200 and answer.json()["tasks"].get("hold") == "Running"

        _wait(holding, "the run's hold task to run", timeout_s=90)
        page.goto(served.url + "/runs/demo-live")
        expect(page.locator("#task-prepare")).to_have_attribute("data-state", "Succeeded")
        expect(page.locator("#task-hold")).to_have_attribute("data-state", "Running")
        expect(page.locator("#task-after")).to_have_attribute("data-state", "Pending")
        expect(page.locator("#log")).to_contain_text("[hold/wait] tick 3")  # lines arrive while it runs
        assert page.locator("#log").get_attribute("data-ended") is None
        _shot(page, "run-live")

        page.locator("button[data-action=cancel]").click()
        expect(page.locator("#flash")).to_contain_text("cancel refused: 401")
        _shot(page, "cancel-refused")
        assert httpx.get(served.url + "/runs/demo-live/live.json", timeout=10).json()["state"] == "Running"

        page.goto(served.url + "/login")
        page.locator("#token").fill(TOKEN)
        page.locator("#login-form button[type=submit]").click()
        expect(page.locator("#flash")).to_contain_text("Token kept for this tab")
        page.goto(served.url + "/runs/demo-live")
        page.locator("button[data-action=cancel]").click()
        # the page follows the run to its end by itself and reloads with the outcome
        expect(page.locator("#run")).to_have_attribute("data-state", "Cancelled", timeout=90_000)
        expect(page.locator("#task-after")).not_to_have_attribute("data-state", "Succeeded")
        assert proc.wait(timeout=60) != 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def test_unknown_run_gives_the_404_page_with_a_way_back(served: Served, page: Page) -> None:
    answer = page.goto(served.url + "/runs/no-such-run")
    assert answer is not None and answer.status == 404
    expect(page.locator("h1")).to_have_text("Not found")
    expect(page.locator(".error-page")).to_contain_text("no-such-run")
    _shot(page, "not-found")
    page.locator("a", has_text="Back to the runs").click()
    expect(page).to_have_url(served.url + "/runs")
    expect(page.locator(".empty")).to_contain_text("No runs yet")
    _shot(page, "runs-empty")
