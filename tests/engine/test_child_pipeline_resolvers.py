"""A resolver on a pipeline task's `pipelineRef` (pipelines in pipelines, engine/pipeline_refs.py): the
child Pipeline is resolved when the run is created, with the enclosing Pipeline's params, and so are the
resolver refs inside it, with the params the task gives the child; `runs rerun` runs what was resolved;
a bad ref is refused at creation, a network one when the file is loaded. A real git repository."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from fixtures.engine_helpers import RunYaml, cli, make_engine, submit_yaml
from retrain.engine.feature_flags import ANNOTATION
from retrain.engine.reasons import RunRejected
from retrain.engine.sandbox import Sandbox

ALPHA = json.dumps({"enable-api-fields": "alpha"})

TASK = """apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: hello
spec:
  params: [{name: who}]
  results: [{name: greeting}]
  steps:
    - name: say
      image: busybox
      script: printf 'hello %s VERSION' "$(params.who)" | tee $(results.greeting.path)
"""

# The child Pipeline (in the repository): its own taskRef is a git ref whose revision is the child's param.
CHILD = """apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: child
spec:
  params: [{name: who}, {name: repo}, {name: rev}]
  results:
    - {name: said, value: $(tasks.greet.results.greeting)}
  tasks:
    - name: greet
      params: [{name: who, value: "$(params.who) via VERSION child"}]
      taskRef:
        resolver: git
        params:
          - {name: url, value: $(params.repo)}
          - {name: revision, value: $(params.rev)}
          - {name: pathInRepo, value: tasks/hello.yaml}
"""


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


def _commit(repo: Path, version: str) -> None:
    for path, text in (("tasks/hello.yaml", TASK), ("pipelines/child.yaml", CHILD)):
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text.replace("VERSION", version))
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", version)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """Tag v1 holds VERSION=v1; main holds v2."""
    path = tmp_path / "repo"
    path.mkdir()
    _git(path, "init", "-q", "-b", "main")
    _commit(path, "v1")
    _git(path, "tag", "v1")
    _commit(path, "v2")
    return path


def _parent(repo: Path, *, path: str = "pipelines/child.yaml", rev: str = "v1") -> str:
    return f"""apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: parent
  annotations:
    {ANNOTATION}: '{ALPHA}'
spec:
  params:
    - {{name: repo, value: '{repo.as_uri()}'}}
    - {{name: rev, value: {rev}}}
  pipelineSpec:
    params: [{{name: repo}}, {{name: rev}}]
    results:
      - {{name: got, value: $(tasks.nested.results.said)}}
    tasks:
      - name: nested
        params:
          - {{name: who, value: parent}}
          - {{name: repo, value: $(params.repo)}}
          - {{name: rev, value: $(params.rev)}}
        pipelineRef:
          resolver: git
          params:
            - {{name: url, value: $(params.repo)}}
            - {{name: revision, value: $(params.rev)}}
            - {{name: pathInRepo, value: {path}}}
"""


def test_a_child_pipeline_from_git_runs_with_its_own_git_task(run: RunYaml, repo: Path) -> None:
    ran = run(_parent(repo))
    assert ran.condition["reason"] == "Succeeded", ran.condition
    assert ran.results() == {"got": "hello parent via v1 child v1"}
    children = [c for c in ran.status["childReferences"] if c["kind"] == "PipelineRun"]
    assert [c["name"] for c in children] == ["parent-nested"]


def test_a_rerun_runs_the_child_that_was_resolved(tmp_path: Path, repo: Path) -> None:
    home = tmp_path / "home"
    path = tmp_path / "run.yaml"
    path.write_text(_parent(repo))
    first = cli("run", "-f", path, "--home", home, timeout=180)
    assert first.returncode == 0, first.stderr
    assert "hello parent via v1 child v1" in first.stdout
    _git(repo, "tag", "-f", "v1", "main")  # v1 now names the v2 commit
    again = cli("runs", "rerun", "parent", "--home", home, timeout=180)
    assert again.returncode == 0, again.stderr
    assert "hello parent via v1 child v1" in again.stdout
    kept = json.loads((home / "runs" / "parent" / "resolved.json").read_text())
    origins = sorted(d["metadata"]["annotations"]["retrain.dev/resolved-from"].split()[2] for d in kept)
    assert origins == ["pipelines/child.yaml", "tasks/hello.yaml"]
    fresh = cli("run", "-f", path, "--home", tmp_path / "other", timeout=180)
    assert fresh.returncode == 0, fresh.stderr
    assert "hello parent via v2 child v2" in fresh.stdout


def test_the_cluster_resolver_finds_a_child_pipeline_given_with_f(run: RunYaml) -> None:
    child = """apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: local-child}
spec:
  params: [{name: who}]
  results: [{name: said, value: $(tasks.t.results.out)}]
  tasks:
    - name: t
      taskSpec:
        results: [{name: out}]
        steps: [{name: s, image: busybox, script: "printf 'hi $(params.who)' > $(results.out.path)"}]
---
"""
    text = f"""{child}apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: by-cluster
  annotations:
    {ANNOTATION}: '{ALPHA}'
spec:
  pipelineSpec:
    results: [{{name: got, value: $(tasks.nested.results.said)}}]
    tasks:
      - name: nested
        params: [{{name: who, value: cluster}}]
        pipelineRef:
          resolver: cluster
          params:
            - {{name: kind, value: pipeline}}
            - {{name: name, value: local-child}}
            - {{name: namespace, value: default}}
"""
    ran = run(text)
    assert ran.condition["reason"] == "Succeeded", ran.condition
    assert ran.results() == {"got": "hi cluster"}


def test_a_wrong_child_path_is_refused_at_creation(home: Path, sandbox: Sandbox, repo: Path) -> None:
    engine, _ = make_engine(home, sandbox)
    with pytest.raises(RunRejected) as caught:
        submit_yaml(engine, _parent(repo, path="pipelines/chld.yaml"))
    assert caught.value.reason == "CouldntGetPipeline"
    assert "no file 'pipelines/chld.yaml'" in caught.value.message
    assert caught.value.hint is not None and 'did you mean "pipelines/child.yaml"?' in caught.value.hint
    assert caught.value.location is not None
    assert caught.value.location.field == "spec.pipelineSpec.tasks[0].pipelineRef"
    assert engine.store.list_runs() == []


def test_a_child_git_ref_from_a_task_result_is_refused(home: Path, sandbox: Sandbox, repo: Path) -> None:
    text = _parent(repo).replace(
        "{name: revision, value: $(params.rev)}", "{name: revision, value: $(tasks.x.results.rev)}"
    )
    engine, _ = make_engine(home, sandbox)
    with pytest.raises(RunRejected) as caught:
        submit_yaml(engine, text)
    assert "not known when the run is created" in caught.value.message


def test_a_network_child_ref_is_refused_when_loaded(tmp_path: Path, repo: Path) -> None:
    path = tmp_path / "run.yaml"
    ref_url = "{name: url, value: $(params.repo)}\n            - {name: revision"
    network = "{name: url, value: https://github.com/x/y}\n            - {name: revision"
    path.write_text(_parent(repo).replace(ref_url, network))
    done = cli("run", "-q", "-f", path, "--home", tmp_path / "home", timeout=120)
    assert done.returncode == 2, done.stderr
    assert f"{path}:24: spec.pipelineSpec.tasks[0].pipelineRef.params[0]" in done.stderr, done.stderr
    assert "needs the network" in done.stderr


def test_a_rerun_keeps_a_child_pipeline_named_from_the_files(tmp_path: Path) -> None:
    """A child Pipeline by name (and the Task it names) given with -f is kept with the run, as what a
    resolver returned is: `runs rerun` in a later process, without the files, runs it."""
    home = tmp_path / "home"
    path = tmp_path / "run.yaml"
    child = CHILD.replace("VERSION", "named").replace(
        """      taskRef:
        resolver: git
        params:
          - {name: url, value: $(params.repo)}
          - {name: revision, value: $(params.rev)}
          - {name: pathInRepo, value: tasks/hello.yaml}
""",
        "      taskRef: {name: hello}\n",
    )
    run = f"""apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: named
  annotations:
    {ANNOTATION}: '{ALPHA}'
spec:
  pipelineSpec:
    tasks:
      - name: nested
        params: [{{name: who, value: files}}, {{name: repo, value: none}}, {{name: rev, value: none}}]
        pipelineRef: {{name: child}}
"""
    path.write_text(TASK.replace("VERSION", "kept") + "---\n" + child + "---\n" + run)
    first = cli("run", "-f", path, "--home", home, timeout=180)
    assert first.returncode == 0, first.stderr
    assert "hello files via named child kept" in first.stdout
    path.unlink()
    again = cli("runs", "rerun", "named", "--home", home, timeout=180)
    assert again.returncode == 0, again.stderr
    assert "hello files via named child kept" in again.stdout
