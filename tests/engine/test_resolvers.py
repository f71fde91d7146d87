"""Local resolvers (engine/resolvers.py): `git` with a repository on this machine and `cluster` with the
objects the run can see, through real runs: a real repository (git init, commits, a tag) in tmp_path,
TaskRuns and PipelineRuns whose taskRef/pipelineRef/step ref use `resolver: git` (file:// url or absolute
path; pathInRepo with or without a leading slash; a branch, a tag, a commit, the default "main";
`$(params.x)` in resolver params) and `resolver: cluster`; `runs rerun` runs what was resolved even after
the repository moved on; every bad ref is refused at creation with Tekton's reason and nothing recorded."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from fixtures.engine_helpers import RunYaml, cli, make_engine, submit_yaml
from retrain.engine.reasons import RunRejected
from retrain.engine.sandbox import Sandbox

TASK = """apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: hello
spec:
  params:
    - name: who
      default: world
  results:
    - name: greeting
  steps:
    - name: say
      image: busybox
      script: |
        printf 'hello %s VERSION' "$(params.who)" | tee $(results.greeting.path)
"""

PIPELINE = """apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: greet-twice
spec:
  params:
    - name: who
  results:
    - name: said
      value: $(tasks.second.results.greeting)
  tasks:
    - name: first
      taskRef: {name: hello}
      params: [{name: who, value: $(params.who)}]
    - name: second
      taskRef: {name: hello}
      params: [{name: who, value: "$(tasks.first.results.greeting)"}]
"""

ACTION = """apiVersion: tekton.dev/v1beta1
kind: StepAction
metadata:
  name: shout
spec:
  image: busybox
  params:
    - name: text
  env: [{name: TEXT, value: $(params.text)}]
  script: printf 'SHOUT %s VERSION' "$TEXT"
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


def _commit(repo: Path, version: str) -> str:
    for path, text in (
        ("tasks/hello.yaml", TASK),
        ("pipelines/greet.yaml", PIPELINE),
        ("stepactions/shout.yaml", ACTION),
    ):
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text.replace("VERSION", version))
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", version)
    return _git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose tag v1 (and branch old) hold VERSION=v1 and whose main holds v2."""
    path = tmp_path / "catalog repo"  # a space: the url and paths are passed as arguments, never a shell
    path.mkdir()
    _git(path, "init", "-q", "-b", "main")
    _commit(path, "v1")
    _git(path, "tag", "v1")
    _git(path, "branch", "old")
    _commit(path, "v2")
    return path


def _taskrun(ref: str, *, params: str = "[{name: who, value: git}]") -> str:
    return f"""apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: tr
spec:
  params: {params}
  taskRef:
{ref}
"""


def _git_ref(url: str, path: str, revision: str | None = None, indent: str = "    ") -> str:
    lines = [f"{indent}resolver: git", f"{indent}params:"]
    lines += [
        f"{indent}  - {{name: url, value: '{url}'}}",
        f"{indent}  - {{name: pathInRepo, value: {path}}}",
    ]
    if revision is not None:
        lines.append(f"{indent}  - {{name: revision, value: '{revision}'}}")
    return "\n".join(lines)


def test_a_taskrun_runs_a_task_from_a_tag_of_a_file_url(run: RunYaml, repo: Path) -> None:
    ran = run(_taskrun(_git_ref(repo.as_uri(), "/tasks/hello.yaml", "v1")))
    assert ran.condition["reason"] == "Succeeded", ran.condition
    assert ran.status["results"] == [{"name": "greeting", "type": "string", "value": "hello git v1"}]


@pytest.mark.parametrize(("revision", "version"), [(None, "v2"), ("old", "v1"), ("main", "v2")])
def test_revision_default_branch_and_commit(
    run: RunYaml, repo: Path, revision: str | None, version: str
) -> None:
    """No revision: Tekton's default-revision "main"; a branch; an absolute path as url."""
    ran = run(_taskrun(_git_ref(str(repo), "tasks/hello.yaml", revision)))
    assert ran.condition["reason"] == "Succeeded", ran.condition
    assert ran.status["results"][0]["value"] == f"hello git {version}"


def test_a_commit_sha_and_a_param_in_a_pipeline_tasks_git_ref(run: RunYaml, repo: Path) -> None:
    """A pipeline task's taskRef takes `$(params.x)` from the PipelineRun; a git StepAction in an inline
    taskSpec takes the Task's params; a pipelineRef resolves through the cluster resolver."""
    first = _git(repo, "rev-parse", "v1")
    text = f"""apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: pr
spec:
  params:
    - {{name: rev, value: {first}}}
    - {{name: repo, value: '{repo.as_uri()}'}}
  pipelineSpec:
    params:
      - name: rev
      - name: repo
    results:
      - name: got
        value: $(tasks.fetched.results.greeting)
    tasks:
      - name: fetched
        params: [{{name: who, value: pipeline}}]
        taskRef:
          resolver: git
          params:
            - {{name: url, value: $(params.repo)}}
            - {{name: revision, value: $(params.rev)}}
            - {{name: pathInRepo, value: tasks/hello.yaml}}
      - name: action
        params: [{{name: path, value: stepactions/shout.yaml}}]
        taskSpec:
          params: [{{name: path}}]
          steps:
            - name: shout
              ref:
                resolver: git
                params:
                  - {{name: url, value: $(params.repo)}}
                  - {{name: pathInRepo, value: $(params.path)}}
              params: [{{name: text, value: loud}}]
"""
    ran = run(text)
    assert ran.condition["reason"] == "Succeeded", ran.condition
    assert ran.results() == {"got": "hello pipeline v1"}
    assert ran.log("pr-action", "shout").strip() == "SHOUT loud v2"


CLUSTER_OBJECTS = (
    "\n---\n".join([TASK.replace("VERSION", "local"), PIPELINE.replace("VERSION", "local"), ACTION])
    + "\n---\n"
)


def _cluster(kind: str, name: str, namespace: str | None = "default", indent: str = "    ") -> str:
    lines = [f"{indent}resolver: cluster", f"{indent}params:"]
    lines += [f"{indent}  - {{name: kind, value: {kind}}}", f"{indent}  - {{name: name, value: {name}}}"]
    if namespace is not None:
        lines.append(f"{indent}  - {{name: namespace, value: {namespace}}}")
    return "\n".join(lines)


def test_the_cluster_resolver_finds_tasks_pipelines_and_stepactions_given_with_f(run: RunYaml) -> None:
    ran = run(CLUSTER_OBJECTS + _taskrun(_cluster("task", "hello")))
    assert ran.condition["reason"] == "Succeeded", ran.condition
    assert ran.status["results"][0]["value"] == "hello git local"
    text = f"""apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: pr
spec:
  params: [{{name: who, value: cluster}}]
  pipelineRef:
{_cluster("pipeline", "greet-twice")}
"""
    ran = run(CLUSTER_OBJECTS + text)
    assert ran.condition["reason"] == "Succeeded", ran.condition
    assert ran.results() == {"said": "hello hello cluster local local"}
    inline = f"""apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: steps
spec:
  taskSpec:
    steps:
      - name: shout
        ref:
{_cluster("stepaction", "shout", indent="          ")}
        params: [{{name: text, value: hi}}]
"""
    ran = run(CLUSTER_OBJECTS + inline)
    assert ran.condition["reason"] == "Succeeded", ran.condition
    assert ran.log("steps", "shout").strip() == "SHOUT hi VERSION"


@pytest.mark.timeout(400)  # three `retrain` processes in turn, on a loaded machine
def test_a_rerun_runs_what_was_resolved_not_the_moved_tag(tmp_path: Path, repo: Path) -> None:
    home = tmp_path / "home"
    path = tmp_path / "run.yaml"
    path.write_text(_taskrun(_git_ref(repo.as_uri(), "tasks/hello.yaml", "v1")))
    first = cli("run", "-q", "-o", "json", "-f", path, "--home", home, timeout=120)
    assert first.returncode == 0, first.stderr
    _git(repo, "tag", "-f", "v1", "main")  # v1 now names the v2 commit
    again = cli("runs", "rerun", "tr", "--home", home, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "hello git v1" in again.stdout
    fresh = cli("run", "-f", path, "--home", tmp_path / "other", timeout=120)
    assert fresh.returncode == 0, fresh.stderr
    assert "hello git v2" in fresh.stdout
    kept = json.loads((home / "runs" / "tr" / "resolved.json").read_text())
    origin = kept[0]["metadata"]["annotations"]["retrain.dev/resolved-from"]
    assert origin.startswith(f"git {repo.as_uri()} tasks/hello.yaml at v1 (commit ")


@pytest.mark.parametrize(
    ("ref", "expected", "hint"),
    [
        (
            _git_ref("REPO_URI", "tasks/hello.yaml", "v1.0"),
            "revision 'v1.0' not found in REPO_URI",
            'did you mean "v1"?',
        ),
        (
            _git_ref("REPO_URI", "tasks/helo.yaml", "v1"),
            "no file 'tasks/helo.yaml' in REPO_URI at revision 'v1' (commit ",
            'did you mean "tasks/hello.yaml"?',
        ),
        (_git_ref("REPO_URI", "tasks", "v1"), "no file 'tasks' in REPO_URI", None),
        (
            _git_ref("REPO_URI", "pipelines/greet.yaml", "v1"),
            "holds a Pipeline, but the ref needs a Task",
            None,
        ),
        (_git_ref("REPO_URI", "../etc/passwd", "v1"), "invalid path '../etc/passwd'", None),
        (_git_ref("REPO_URI", "tasks/hello.yaml", "--upload-pack=x"), "must not be empty or begin", None),
        (_git_ref("relative/repo", "tasks/hello.yaml"), "neither an absolute path nor a file:// url", None),
        (_git_ref("REPO_URI/missing", "tasks/hello.yaml"), "no such directory", None),
        (_cluster("task", "helo"), 'Task "helo" not found in namespace "default"', 'did you mean "hello"?'),
        (_cluster("task", "hello", "prod"), 'Task "hello" is in namespace "default", not "prod"', None),
        (_cluster("task", "hello", None), "missing required cluster resolver params: namespace", None),
        (_cluster("pipeline", "greet-twice"), "kind 'pipeline' names a Pipeline, the ref needs a Task", None),
        (_cluster("chart", "hello"), "unknown or unsupported resource kind 'chart'", None),
    ],
)
def test_bad_refs_are_refused_at_creation(
    home: Path, sandbox: Sandbox, repo: Path, ref: str, expected: str, hint: str | None
) -> None:
    engine, _ = make_engine(home, sandbox)
    text = CLUSTER_OBJECTS + _taskrun(ref.replace("REPO_URI", repo.as_uri()))
    with pytest.raises(RunRejected) as caught:
        submit_yaml(engine, text)
    assert caught.value.reason == "TaskRunResolutionFailed"
    assert caught.value.detail.startswith("remote resolution (")
    assert caught.value.location is not None
    assert caught.value.location.field == "spec.taskRef"
    assert expected.replace("REPO_URI", repo.as_uri()) in caught.value.detail
    if hint is not None:
        assert caught.value.hint == hint
    assert engine.store.list_runs() == []


def test_an_invalid_resolved_file_is_reported_with_its_line(home: Path, sandbox: Sandbox, repo: Path) -> None:
    (repo / "tasks" / "broken.yaml").write_text(
        TASK.replace("    - name: say\n", "    - name: say\n      imag: x\n")
    )
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "broken")
    engine, _ = make_engine(home, sandbox)
    with pytest.raises(RunRejected) as caught:
        submit_yaml(engine, _taskrun(_git_ref(repo.as_uri(), "tasks/broken.yaml")))
    assert caught.value.reason == "TaskRunResolutionFailed"
    assert 'the Task the "git" resolver returned is invalid' in caught.value.detail
    location = caught.value.location
    assert location is not None
    assert location.file == f"{repo.as_uri()}/tasks/broken.yaml@main"
    assert location.line == 13  # `imag: x`
    assert engine.store.list_runs() == []


def test_a_pipeline_tasks_ref_refused_with_the_pipeline_reason(home: Path, sandbox: Sandbox) -> None:
    engine, _ = make_engine(home, sandbox)
    text = f"""apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: pr
spec:
  pipelineSpec:
    tasks:
      - name: t
        taskRef:
{_cluster("task", "nothing-here", indent="          ")}
"""
    with pytest.raises(RunRejected) as caught:
        submit_yaml(engine, CLUSTER_OBJECTS + text)
    assert caught.value.reason == "CouldntGetTask"
    assert caught.value.detail.startswith(
        'remote resolution ("cluster" resolver) failed: Task "nothing-here"'
    )
    assert caught.value.location is not None
    assert caught.value.location.field == "spec.pipelineSpec.tasks[0].taskRef"
    missing = text.replace(
        "pipelineSpec:\n    tasks:", "pipelineRef:\n" + _cluster("pipeline", "nope") + "\n  x:"
    )
    missing = missing.split("\n  x:")[0] + "\n"
    with pytest.raises(RunRejected) as caught:
        submit_yaml(engine, CLUSTER_OBJECTS + missing)
    assert caught.value.reason == "CouldntGetPipeline"
    assert 'Pipeline "nope" not found' in caught.value.detail
    assert engine.store.list_runs() == []


def test_a_result_in_a_resolver_param_is_refused(home: Path, sandbox: Sandbox, repo: Path) -> None:
    engine, _ = make_engine(home, sandbox)
    text = f"""apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: pr
spec:
  pipelineSpec:
    tasks:
      - name: a
        taskSpec:
          results: [{{name: rev}}]
          steps: [{{image: busybox, script: printf v1 > $(results.rev.path)}}]
      - name: b
        taskRef:
          resolver: git
          params:
            - {{name: url, value: '{repo.as_uri()}'}}
            - {{name: revision, value: $(tasks.a.results.rev)}}
            - {{name: pathInRepo, value: tasks/hello.yaml}}
"""
    with pytest.raises(RunRejected) as caught:
        submit_yaml(engine, text)
    assert caught.value.reason == "CouldntGetTask"
    assert (
        "resolver param 'revision' is '$(tasks.a.results.rev)', which is not known when the run is created"
        in (caught.value.detail)
    )


@pytest.mark.timeout(400)  # three `retrain` processes in turn, on a loaded machine
def test_network_resolvers_are_refused_when_loaded_with_file_and_line(tmp_path: Path) -> None:
    """https/ssh urls, the SCM API mode and the hub/bundles/http resolvers: exit 2, nothing runs."""
    path = tmp_path / "run.yaml"
    path.write_text(_taskrun(_git_ref("https://github.com/tektoncd/catalog.git", "task/x.yaml", "main")))
    done = cli("run", "-q", "-f", path, "--home", tmp_path / "home")
    assert done.returncode == 2, done.stderr
    assert f"{path}:10: spec.taskRef.params[0]:" in done.stderr  # the url param's line
    assert 'remote resolution ("git" resolver) of a Task' in done.stderr
    assert "needs the network (Tekton clones it)" in done.stderr
    path.write_text(_taskrun("    resolver: hub\n    params: [{name: name, value: golang-build}]"))
    done = cli("run", "-q", "-f", path, "--home", tmp_path / "home")
    assert done.returncode == 2, done.stderr
    assert 'remote resolution ("hub" resolver) of a Task: it needs the network' in done.stderr
    scm = _git_ref("", "task/x.yaml").replace("name: url, value: ''", "name: repo, value: catalog")
    path.write_text(_taskrun(scm))
    done = cli("run", "-q", "-f", path, "--home", tmp_path / "home")
    assert done.returncode == 2, done.stderr
    assert "the SCM API mode (repo and org) needs the network" in done.stderr


def test_a_network_url_from_a_param_is_refused_at_creation(home: Path, sandbox: Sandbox) -> None:
    """As in Tekton's stepaction-git-resolver example: the url comes from the TaskRun's params."""
    engine, _ = make_engine(home, sandbox)
    text = """apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: tr
spec:
  params: [{name: repoUrl, value: "https://github.com/tektoncd/catalog.git"}]
  taskSpec:
    params: [{name: repoUrl}]
    steps:
      - ref:
          resolver: git
          params:
            - {name: url, value: $(params.repoUrl)}
            - {name: pathInRepo, value: stepaction/git-clone/0.1/git-clone.yaml}
"""
    with pytest.raises(RunRejected) as caught:
        submit_yaml(engine, text)
    assert caught.value.reason == "TaskRunResolutionFailed"
    assert caught.value.detail.startswith('remote resolution ("git" resolver) failed')
    assert caught.value.location is not None
    assert caught.value.location.field == "spec.taskSpec.steps[0].ref"
    assert "'https://github.com/tektoncd/catalog.git' needs the network" in caught.value.detail
    assert engine.store.list_runs() == []


@pytest.mark.timeout(400)  # three `retrain` processes in turn, on a loaded machine
def test_a_rerun_of_a_cluster_resolved_pipeline_needs_no_files(tmp_path: Path) -> None:
    """The resolved Pipeline and the Task it names are kept with the run: a re-run in a later process,
    without the files, runs them."""
    home = tmp_path / "home"
    path = tmp_path / "run.yaml"
    run = f"""apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: pr
spec:
  params: [{{name: who, value: kept}}]
  pipelineRef:
{_cluster("pipeline", "greet-twice")}
"""
    path.write_text(CLUSTER_OBJECTS + run)
    first = cli("run", "-q", "-o", "json", "-f", path, "--home", home, timeout=120)
    assert first.returncode == 0, first.stderr
    path.unlink()
    again = cli("runs", "rerun", "pr", "--home", home, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "hello hello kept local local" in again.stdout


def _uses_git(repo: Path, path: str) -> str:
    return f"""apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: uses-git
spec:
  params: [{{name: where, default: {path}}}]
  steps:
    - name: shout
      ref:
        resolver: git
        params:
          - {{name: url, value: '{repo}'}}
          - {{name: revision, value: old}}
          - {{name: pathInRepo, value: $(params.where)}}
      params: [{{name: text, value: named}}]
---
"""


def test_a_named_tasks_git_step_ref(run: RunYaml, home: Path, sandbox: Sandbox, repo: Path) -> None:
    """A Task given with -f whose step refers to a StepAction in git: a TaskRun runs it; in a pipeline a
    wrong path is refused at creation, pointing at the Task's step."""
    taskrun = (
        "apiVersion: tekton.dev/v1\nkind: TaskRun\nmetadata: {name: tr}\nspec:\n  taskRef: {name: uses-git}\n"
    )
    ran = run(_uses_git(repo, "stepactions/shout.yaml") + taskrun)
    assert ran.condition["reason"] == "Succeeded", ran.condition
    assert ran.log("tr", "shout").strip() == "SHOUT named v1"
    engine, _ = make_engine(home, sandbox)
    pipelinerun = """apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: pr}
spec:
  pipelineSpec:
    tasks:
      - name: t
        taskRef: {name: uses-git}
        params: [{name: where, value: stepactions/shot.yaml}]
"""
    with pytest.raises(RunRejected) as caught:
        submit_yaml(engine, _uses_git(repo, "stepactions/shout.yaml") + pipelinerun)
    assert caught.value.reason == "CouldntGetTask"
    assert caught.value.location is not None
    assert caught.value.location.field == 'Task "uses-git" spec.steps[0].ref'
    assert "no file 'stepactions/shot.yaml'" in caught.value.detail
    assert caught.value.hint == 'did you mean "stepactions/shout.yaml"?'
    assert [r.name for r in engine.store.list_runs()] == ["tr"]  # the TaskRun above; no PipelineRun
