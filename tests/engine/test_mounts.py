"""Container paths in a step's log lines shown as the host paths they were bound to, and the failure of a
retried task read from its last try."""

from __future__ import annotations

from pathlib import Path

from fixtures.engine_helpers import RunYaml
from retrain.app.runs import failure_of
from retrain.engine.mounts import HostView, attempt_dir, read_mounts
from retrain.engine.sandbox import Mount


def test_host_view_rewrites_whole_path_components_longest_mount_first() -> None:
    view = HostView(
        [
            Mount(Path("/h/ws"), "/workspace"),
            Mount(Path("/h/src"), "/workspace/source"),
            Mount(Path("/h/res"), "/tekton/results"),
        ]
    )
    assert view("cat /workspace/source/nb.ipynb") == "cat /h/src/nb.ipynb"
    assert view("in /workspace/sourcery and /workspace") == "in /h/ws/sourcery and /h/ws"
    assert view("wrote '/tekton/results/verdict'.") == "wrote '/h/res/verdict'."
    # Not a mount: a longer name, or the same words inside another path.
    assert view("/workspaces/x /data/workspace/x x/tekton/results") == (
        "/workspaces/x /data/workspace/x x/tekton/results"
    )
    assert HostView([])("/workspace/x") == "/workspace/x"


RETRIED = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: retried}
spec:
  pipelineSpec:
    tasks:
      - name: flaky
        retries: 1
        taskSpec:
          steps:
            - name: go
              image: busybox
              script: |
                echo "try $(context.task.retry-count) in $(results.out.path)"
                exit 2
          results: [{name: out}]
"""


def test_failure_of_a_retried_task_shows_its_last_try(run: RunYaml, home: Path) -> None:
    ran = run(RETRIED)
    assert ran.condition["status"] == "False"
    failure = failure_of(ran.store, "retried")
    assert failure is not None
    assert (failure.task, failure.taskrun, failure.step) == ("flaky", "retried-flaky", "go")
    results = attempt_dir(home / "runs" / "retried", "retried-flaky", 1) / "results"
    assert failure.log_tail == (f"try 1 in {results.absolute()}/out",)
    assert {m.target for m in read_mounts(results.parent)} >= {"/workspace", "/tekton/results"}
    short = failure_of(ran.store, "retried", lines=0)
    assert short is not None and short.log_tail == ()
