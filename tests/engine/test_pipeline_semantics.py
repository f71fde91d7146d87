"""PipelineRun semantics: results, the DAG, `when`, skip reasons, `finally`, failure handling, the status."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.engine_helpers import RunYaml, make_engine, submit_yaml
from retrain.engine.reasons import RunRejected
from retrain.engine.sandbox import Sandbox

# --- results ----------------------------------------------------------------------------------------------

RESULTS = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: res
spec:
  pipelineSpec:
    results:
      - name: s
        value: $(tasks.produce.results.s)
      - name: joined
        value: "$(tasks.produce.results.s)-$(tasks.consume.results.echo)"
      - name: arr
        type: array
        value: $(tasks.produce.results.a[*])
      - name: obj
        type: object
        value: $(tasks.produce.results.o[*])
    tasks:
      - name: produce
        taskSpec:
          results:
            - name: s
            - name: a
              type: array
            - name: o
              type: object
              properties: {k: {}, n: {}}
          steps:
            - name: write
              image: busybox
              script: |
                printf hello > $(results.s.path)
                printf '["x", "y", "z"]' > $(results.a.path)
                printf '{"k": "v", "n": "1"}' > $(results.o.path)
      - name: consume
        params:
          - name: s
            value: $(tasks.produce.results.s)
          - name: a
            value: $(tasks.produce.results.a[*])
          - name: second
            value: $(tasks.produce.results.a[1])
          - name: o
            value: $(tasks.produce.results.o[*])
          - name: k
            value: $(tasks.produce.results.o.k)
        taskSpec:
          params:
            - name: s
            - name: a
              type: array
            - name: second
            - name: o
              type: object
              properties: {k: {}, n: {}}
            - name: k
          results:
            - name: echo
          steps:
            - name: show
              image: busybox
              args: ["$(params.a[*])"]
              script: |
                echo "s=$(params.s) all=$* second=$(params.second) k=$(params.k) n=$(params.o.n)"
                printf "$(params.s)!" > $(results.echo.path)
"""


def test_string_array_object_results_flow_into_params_and_pipeline_results(run: RunYaml) -> None:
    ran = run(RESULTS)
    assert ran.result.succeeded, ran.result.message
    assert ran.output("res-consume") == ["s=hello all=x y z second=y k=v n=1"]
    assert ran.task_results("produce") == {"s": "hello", "a": ["x", "y", "z"], "o": {"k": "v", "n": "1"}}
    assert ran.results() == {
        "s": "hello",
        "joined": "hello-hello!",
        "arr": ["x", "y", "z"],
        "obj": {"k": "v", "n": "1"},
    }
    assert ran.record.status["results"] == ran.status["results"]  # what `runs show` prints


TOO_LARGE = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: big
spec:
  pipelineSpec:
    tasks:
      - name: big
        taskSpec:
          results:
            - name: blob
          steps:
            - name: write
              image: busybox
              script: head -c 5000 /dev/zero | tr '\\0' a > $(results.blob.path)
      - name: after
        runAfter: [big]
        taskSpec:
          steps:
            - image: busybox
              script: echo never
"""


def test_a_result_over_4096_bytes_fails_the_taskrun(run: RunYaml) -> None:
    ran = run(TOO_LARGE)
    assert not ran.result.succeeded
    assert ran.result.reason == "Failed"
    big = ran.taskruns()["big"]
    cond = big.status["conditions"][0]
    assert (cond["status"], cond["reason"]) == ("False", "TaskRunResultLargerThanAllowedLimit")
    assert (
        "Termination message is above max allowed size 4096, caused by large task result." in cond["message"]
    )
    assert ran.skipped()["after"]["reason"] == "PipelineRun was stopping"


FINALLY_READS_FAILED = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: fin-missing
spec:
  pipelineSpec:
    tasks:
      - name: producer
        taskSpec:
          results:
            - name: r
          steps:
            - image: busybox
              script: exit 1
    finally:
      - name: reader
        params:
          - name: r
            value: $(tasks.producer.results.r)
        taskSpec:
          params:
            - name: r
          steps:
            - image: busybox
              script: echo "$(params.r)"
      - name: reporter
        params:
          - name: status
            value: $(tasks.producer.status)
        taskSpec:
          params:
            - name: status
          steps:
            - image: busybox
              script: echo "producer=$(params.status)"
"""


def test_finally_task_reading_a_result_of_a_failed_task_is_skipped(run: RunYaml) -> None:
    ran = run(FINALLY_READS_FAILED)
    assert (ran.result.status, ran.result.reason) == ("False", "Failed")
    assert ran.skipped() == {"reader": {"name": "reader", "reason": "Results were missing"}}
    assert ran.output("fin-missing-reporter") == ["producer=Failed"]
    assert ran.result.message == "Tasks Completed: 2 (Failed: 1, Cancelled 0), Skipped: 1"


RESULT_NEVER_WRITTEN = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: unwritten
spec:
  pipelineSpec:
    tasks:
      - name: producer
        taskSpec:
          results:
            - name: r
          steps:
            - image: busybox
              script: echo "I forgot to write the result"
      - name: consumer
        params:
          - name: r
            value: $(tasks.producer.results.r)
        taskSpec:
          params:
            - name: r
          steps:
            - image: busybox
              script: echo "$(params.r)"
"""


def test_reading_a_result_its_successful_producer_never_wrote_fails_the_run(run: RunYaml) -> None:
    ran = run(RESULT_NEVER_WRITTEN)
    assert (ran.result.status, ran.result.reason) == ("False", "InvalidTaskResultReference")
    assert ran.result.message == (
        "Invalid task result reference: Could not find result with name r for task producer"
    )
    assert "consumer" not in ran.taskruns()
    assert ran.record.state == "Failed"


# --- DAG --------------------------------------------------------------------------------------------------

ORDER = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: order
spec:
  workspaces:
    - name: shared
      emptyDir: {}
  pipelineSpec:
    workspaces:
      - name: shared
    tasks:
      - name: c
        runAfter: [b]
        params:
          - name: from-a
            value: $(tasks.a.results.r)
        workspaces:
          - name: shared
        taskSpec:
          params:
            - name: from-a
          workspaces:
            - name: shared
          steps:
            - image: busybox
              script: echo "c $(params.from-a)" >> $(workspaces.shared.path)/order
      - name: b
        params:
          - name: from-a
            value: $(tasks.a.results.r)
        workspaces:
          - name: shared
        taskSpec:
          params:
            - name: from-a
          workspaces:
            - name: shared
          steps:
            - image: busybox
              script: echo "b $(params.from-a)" >> $(workspaces.shared.path)/order
      - name: a
        workspaces:
          - name: shared
        taskSpec:
          workspaces:
            - name: shared
          results:
            - name: r
          steps:
            - image: busybox
              script: |
                echo a >> $(workspaces.shared.path)/order
                printf from-a > $(results.r.path)
"""


def test_run_after_and_result_references_order_the_tasks(run: RunYaml, home: Path) -> None:
    ran = run(ORDER)
    assert ran.result.succeeded, ran.result.message
    order = (home / "runs" / "order" / "volumes" / "dir-shared" / "order").read_text().splitlines()
    assert order == ["a", "b from-a", "c from-a"]
    children = [c["pipelineTaskName"] for c in ran.status["childReferences"]]
    assert children == ["a", "b", "c"]


PARALLEL = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: par
spec:
  pipelineSpec:
    tasks:
      - name: left
        taskSpec:
          results: [{name: span}]
          steps:
            - image: busybox
              script: |
                s=$(date +%s.%N); sleep 0.5; e=$(date +%s.%N)
                printf "$s $e" > $(results.span.path)
      - name: right
        taskSpec:
          results: [{name: span}]
          steps:
            - image: busybox
              script: |
                s=$(date +%s.%N); sleep 0.5; e=$(date +%s.%N)
                printf "$s $e" > $(results.span.path)
"""


def test_independent_tasks_run_in_parallel(run: RunYaml) -> None:
    ran = run(PARALLEL)
    assert ran.result.succeeded, ran.result.message
    (ls, le), (rs, re) = (map(float, str(ran.task_results(t)["span"]).split()) for t in ("left", "right"))
    assert ls < re and rs < le, f"no overlap: left {ls}-{le}, right {rs}-{re}"


CYCLE = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: cycle
spec:
  pipelineSpec:
    tasks:
      - name: a
        runAfter: [b]
        taskSpec:
          steps: [{image: busybox, script: "touch /tmp/never-a"}]
      - name: b
        runAfter: [a]
        taskSpec:
          steps: [{image: busybox, script: "touch /tmp/never-b"}]
"""

UNKNOWN_RUN_AFTER = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: unknown
spec:
  pipelineSpec:
    tasks:
      - name: a
        runAfter: [nope]
        taskSpec:
          steps: [{image: busybox, script: "echo a"}]
"""


@pytest.mark.parametrize(("text", "needle"), [(CYCLE, "cycle"), (UNKNOWN_RUN_AFTER, "nope")])
def test_bad_graph_is_rejected_at_submit(home: Path, sandbox: Sandbox, text: str, needle: str) -> None:
    engine, _ = make_engine(home, sandbox)
    with pytest.raises(RunRejected) as caught:
        submit_yaml(engine, text)
    assert caught.value.reason == "PipelineInvalidGraph"
    assert needle in caught.value.detail
    assert engine.store.list_runs() == []


# --- when and skip reasons --------------------------------------------------------------------------------

WHEN = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: when
spec:
  params:
    - name: env
      value: prod
    - name: allowed
      value: [prod, staging]
  pipelineSpec:
    params:
      - name: env
      - name: allowed
        type: array
    tasks:
      - name: check
        taskSpec:
          results: [{name: verdict}]
          steps:
            - image: busybox
              script: printf blessed > $(results.verdict.path)
      - name: in-array
        when:
          - input: $(params.env)
            operator: in
            values: ["$(params.allowed[*])"]
        taskSpec:
          steps: [{image: busybox, script: "echo deployed"}]
      - name: notin-skipped
        when:
          - input: $(tasks.check.results.verdict)
            operator: notin
            values: [blessed]
        taskSpec:
          steps: [{image: busybox, script: "echo rejected"}]
      - name: after-when-skip
        runAfter: [notin-skipped]
        taskSpec:
          steps: [{image: busybox, script: "echo still runs"}]
      - name: reads-skipped
        params:
          - name: x
            value: $(tasks.rejected-only.results.out)
        taskSpec:
          params: [{name: x}]
          steps: [{image: busybox, script: "echo $(params.x)"}]
      - name: rejected-only
        runAfter: [notin-skipped]
        when:
          - input: $(tasks.check.results.verdict)
            operator: in
            values: [rejected]
        taskSpec:
          results: [{name: out}]
          steps: [{image: busybox, script: "printf x > $(results.out.path)"}]
      - name: grandchild
        runAfter: [reads-skipped]
        taskSpec:
          steps: [{image: busybox, script: "echo never"}]
    finally:
      - name: summary
        params:
          - name: all
            value: $(tasks.status)
          - name: check
            value: $(tasks.check.status)
          - name: skipped
            value: $(tasks.notin-skipped.status)
          - name: reason
            value: $(tasks.check.reason)
        taskSpec:
          params: [{name: all}, {name: check}, {name: skipped}, {name: reason}]
          steps:
            - image: busybox
              script: |
                echo "all=$(params.all) check=$(params.check) skipped=$(params.skipped) \\
                reason=$(params.reason)"
      - name: finally-when
        when:
          - input: $(tasks.status)
            operator: in
            values: [Failed]
        taskSpec:
          steps: [{image: busybox, script: "echo rollback"}]
"""


def test_when_expressions_and_skip_reasons(run: RunYaml) -> None:
    ran = run(WHEN)
    assert (ran.result.status, ran.result.reason) == ("True", "Completed")
    skipped = ran.skipped()
    assert skipped["notin-skipped"] == {
        "name": "notin-skipped",
        "reason": "When Expressions evaluated to false",
        "whenExpressions": [{"input": "blessed", "operator": "notin", "values": ["blessed"]}],
    }
    assert skipped["rejected-only"]["reason"] == "When Expressions evaluated to false"
    assert skipped["reads-skipped"] == {"name": "reads-skipped", "reason": "Results were missing"}
    assert skipped["grandchild"] == {"name": "grandchild", "reason": "Parent Tasks were skipped"}
    assert skipped["finally-when"]["reason"] == "When Expressions evaluated to false"
    assert skipped["finally-when"]["whenExpressions"] == [
        {"input": "Completed", "operator": "in", "values": ["Failed"]}
    ]
    ran_tasks = set(ran.taskruns())
    assert {"check", "in-array", "after-when-skip", "summary"} == ran_tasks
    in_array = next(c for c in ran.status["childReferences"] if c["pipelineTaskName"] == "in-array")
    assert in_array["whenExpressions"] == [{"input": "prod", "operator": "in", "values": ["prod", "staging"]}]
    assert ran.output("when-summary") == ["all=Completed check=Succeeded skipped=None reason=Succeeded"]
    assert ran.result.message == "Tasks Completed: 4 (Failed: 0, Cancelled 0), Skipped: 5"


FAILURE = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: fail
spec:
  pipelineSpec:
    tasks:
      - name: slow
        taskSpec:
          results: [{name: done}]
          steps:
            - image: busybox
              script: sleep 0.6; printf yes > $(results.done.path)
      - name: broken
        taskSpec:
          steps:
            - name: boom
              image: busybox
              script: echo about to fail; exit 3
      - name: after-broken
        runAfter: [broken]
        taskSpec:
          steps: [{image: busybox, script: "echo never"}]
      - name: after-slow
        runAfter: [slow]
        taskSpec:
          steps: [{image: busybox, script: "echo never"}]
    finally:
      - name: cleanup
        params:
          - name: broken
            value: $(tasks.broken.status)
          - name: reason
            value: $(tasks.broken.reason)
          - name: all
            value: $(tasks.status)
          - name: slow
            value: $(tasks.slow.results.done)
        taskSpec:
          params: [{name: broken}, {name: reason}, {name: all}, {name: slow}]
          steps:
            - image: busybox
              script: |
                echo "broken=$(params.broken) reason=$(params.reason) \\
                all=$(params.all) slow=$(params.slow)"
"""


def test_a_failure_stops_scheduling_lets_running_tasks_finish_and_runs_finally(run: RunYaml) -> None:
    ran = run(FAILURE)
    assert (ran.result.status, ran.result.reason) == ("False", "Failed")
    trs = ran.taskruns()
    assert trs["slow"].state == "Succeeded"  # running when `broken` failed: it finished
    assert trs["broken"].reason == "Failed"
    boom = trs["broken"].status["steps"][0]
    assert boom["terminated"]["exitCode"] == 3
    assert trs["broken"].status["conditions"][0]["message"] == '"step-boom" exited with code 3'
    assert ran.log("fail-broken", "boom") == "about to fail\n"
    assert ran.skipped() == {
        "after-broken": {"name": "after-broken", "reason": "PipelineRun was stopping"},
        "after-slow": {"name": "after-slow", "reason": "PipelineRun was stopping"},
    }
    assert ran.output("fail-cleanup") == ["broken=Failed reason=Failed all=Failed slow=yes"]
    assert ran.result.message == "Tasks Completed: 3 (Failed: 1, Cancelled 0), Skipped: 2"
    assert ran.record.state == "Failed"


ON_ERROR = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: onerr
spec:
  pipelineSpec:
    tasks:
      - name: flaky
        onError: continue
        taskSpec:
          steps: [{image: busybox, script: "exit 1"}]
      - name: next
        runAfter: [flaky]
        taskSpec:
          steps: [{image: busybox, script: "echo next ran"}]
    finally:
      - name: report
        params:
          - {name: s, value: $(tasks.flaky.status)}
          - {name: r, value: $(tasks.flaky.reason)}
          - {name: all, value: $(tasks.status)}
        taskSpec:
          params: [{name: s}, {name: r}, {name: all}]
          steps: [{image: busybox, script: "echo $(params.s) $(params.r) $(params.all)"}]
"""


def test_pipeline_task_on_error_continue_ignores_the_failure(run: RunYaml) -> None:
    ran = run(ON_ERROR)
    assert (ran.result.status, ran.result.reason) == ("True", "Succeeded"), ran.result.message
    flaky = ran.taskruns()["flaky"]
    assert (flaky.state, flaky.status["conditions"][0]["reason"]) == ("Failed", "FailureIgnored")
    assert ran.output("onerr-next") == ["next ran"]
    assert ran.output("onerr-report") == ["Failed FailureIgnored Failed"]  # as Tekton: ignored still Failed
    assert ran.result.message == "Tasks Completed: 3 (Failed: 1 (Ignored: 1), Cancelled 0), Skipped: 0"


STEP_ON_ERROR = """
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: step-onerr
spec:
  taskSpec:
    steps:
      - name: fails
        image: busybox
        onError: continue
        script: exit 7
      - name: reads
        image: busybox
        script: |
          echo "code=$(cat $(steps.step-fails.exitCode.path))"
"""


def test_step_on_error_continue_records_the_exit_code_and_goes_on(run: RunYaml) -> None:
    ran = run(STEP_ON_ERROR)
    assert ran.result.succeeded, ran.result.message
    assert ran.output("step-onerr") == ["code=7"]
    steps = ran.status["steps"]
    assert steps[0]["terminated"]["exitCode"] == 7
    assert steps[0]["terminationReason"] == "Continued"
    assert steps[1]["terminated"]["exitCode"] == 0


# --- matrix -----------------------------------------------------------------------------------------------

MATRIX = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: mx
spec:
  params:
    - name: platforms
      value: [linux, mac]
    - name: none
      value: []
  pipelineSpec:
    params:
      - name: platforms
        type: array
      - name: none
        type: array
    tasks:
      - name: build
        matrix:
          params:
            - name: platform
              value: $(params.platforms[*])
            - name: browser
              value: [chrome, firefox]
          include:
            - name: $(params.platform)-safari
              params:
                - {name: platform, value: windows}
                - {name: browser, value: safari}
            - name: chrome-flag
              params:
                - {name: browser, value: chrome}
                - {name: flag, value: fast}
        taskSpec:
          params:
            - name: platform
            - name: browser
            - name: flag
              default: none
          results:
            - name: combo
          steps:
            - image: busybox
              script: printf "$(params.platform)-$(params.browser)-$(params.flag)" > $(results.combo.path)
      - name: gather
        displayName: Gather $(params.platforms[1]) and $(params.all[0])
        params:
          - name: all
            value: $(tasks.build.results.combo[*])
        taskSpec:
          params:
            - name: all
              type: array
          steps:
            - image: busybox
              args: ["$(params.all[*])"]
              script: echo "$@" | tr ' ' '\\n' | sort | tr '\\n' ' '
      - name: empty
        matrix:
          params:
            - name: x
              value: $(params.none[*])
        taskSpec:
          params: [{name: x}]
          steps: [{image: busybox, script: "echo $(params.x)"}]
"""


def test_matrix_fans_out_includes_and_aggregates_results(run: RunYaml) -> None:
    ran = run(MATRIX)
    assert ran.result.succeeded, ran.result.message
    build = [c for c in ran.status["childReferences"] if c["pipelineTaskName"] == "build"]
    assert [c["name"] for c in build] == [f"mx-build-{i}" for i in range(5)]
    # Tekton's FanOut: the first matrix param varies fastest; an include adds a combination only when none
    # of its values is already in one, and its name (params substituted) becomes the displayName.
    assert [c.get("displayName") for c in build] == [
        "chrome-flag",
        "chrome-flag",
        None,
        None,
        "windows-safari",
    ]
    gather = next(c for c in ran.status["childReferences"] if c["pipelineTaskName"] == "gather")
    assert gather["displayName"] == "Gather mac and $(params.all[0])"  # array params are not substituted
    by_name = {
        tr.name: str(tr.results["combo"]) for tr in ran.store.taskruns("mx") if tr.pipeline_task == "build"
    }
    assert [by_name[f"mx-build-{i}"] for i in range(5)] == [
        "linux-chrome-fast",
        "mac-chrome-fast",
        "linux-firefox-none",
        "mac-firefox-none",
        "windows-safari-none",
    ]
    combos = sorted(by_name.values())
    assert ran.output("mx-gather") == [" ".join(combos) + " "]
    assert ran.skipped() == {"empty": {"name": "empty", "reason": "Matrix Parameters have an empty array"}}
    assert (ran.result.status, ran.result.reason) == ("True", "Completed")


def test_matrix_over_256_combinations_is_refused(run: RunYaml) -> None:
    values = "[" + ", ".join(f"v{i}" for i in range(17)) + "]"
    text = f"""
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: huge
spec:
  params:
    - name: many
      value: {values}
  pipelineSpec:
    params:
      - name: many
        type: array
    tasks:
      - name: fan
        matrix:
          params:
            - name: a
              value: $(params.many[*])
            - name: b
              value: $(params.many[*])
        taskSpec:
          params: [{{name: a}}, {{name: b}}]
          steps: [{{image: busybox, script: "echo $(params.a)$(params.b)"}}]
"""
    ran = run(text)
    assert (ran.result.status, ran.result.reason) == ("False", "PipelineValidationFailed")
    assert "289 combinations" in ran.result.message
    assert "256" in ran.result.message
    assert ran.store.taskruns("huge") == []
    assert "childReferences" not in ran.status


PREFIXES = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: a-pipelinerun-with-a-rather-long-name-for-hashing
spec:
  pipelineSpec:
    tasks:
      - name: build
        taskSpec:
          steps: [{image: busybox, script: "echo build"}]
      - name: build-x
        taskSpec:
          steps: [{image: busybox, script: "echo build-x"}]
      - name: a-task-whose-name-makes-the-taskrun-name-too-long
        matrix:
          params: [{name: n, value: ["1", "2"]}]
        taskSpec:
          params: [{name: n}]
          steps: [{image: busybox, script: "echo $(params.n)"}]
"""


def test_every_taskrun_record_names_its_own_pipeline_task(run: RunYaml) -> None:
    """Even while running, for names that prefix each other and names shortened with a hash."""
    ran = run(PREFIXES)
    assert ran.result.succeeded, ran.result.message
    owners = {c["name"]: c["pipelineTaskName"] for c in ran.status["childReferences"]}
    assert len(owners) == 4
    assert all(len(name) <= 63 for name in owners)
    for update in ran.store.taskrun_updates:
        assert update.pipeline_task == owners[update.name], update.name
