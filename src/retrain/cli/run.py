"""`retrain run`: run Tekton v1 PipelineRuns/TaskRuns (or a named Pipeline) on this machine."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from retrain.app.bindings import check_bindings, check_names
from retrain.cli.common import build_engine, execute_and_report, execute_runs, exit_code, parse_assignments
from retrain.cli.exits import exits
from retrain.errors import RetrainError

if TYPE_CHECKING:
    from retrain.engine.engine import Engine, Submission
    from retrain.tekton.loader import Document, LoadResult
    from retrain.tekton.model import ParamValue, PipelineSpec


def typed_params(raw: dict[str, str], spec: PipelineSpec) -> dict[str, ParamValue]:
    """`-p list=a,b,c` for array params and `-p obj=k1:v1,k2:v2` for object params, as `tkn` reads them."""
    types = {p.name: p.effective_type for p in spec.params}
    out: dict[str, ParamValue] = {}
    for name, value in raw.items():
        kind = types.get(name, "string")
        if kind == "array":
            out[name] = [v for v in value.split(",") if v] if value else []
        elif kind == "object":
            out[name] = dict(pair.split(":", 1) for pair in value.split(",") if ":" in pair)
        else:
            out[name] = value
    return out


def load(files: list[Path]) -> LoadResult:
    """Load and validate every document; all problems are reported together, before anything runs."""
    from retrain.errors import InvalidInputs
    from retrain.tekton.loader import load_files
    from retrain.tekton.local_support import local_support_problems
    from retrain.tekton.validation import validate_object

    loaded = load_files(files)
    problems = [p for doc in loaded.documents for p in validate_object(doc.obj, where=doc.source)]
    problems += [p for doc in loaded.documents for p in local_support_problems(doc.obj, where=doc.source)]
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise InvalidInputs(problems)
    return loaded


def run_command(
    files: list[Path] = typer.Option([], "-f", "--filename", help="YAML file(s) with Tekton v1 documents."),
    params: list[str] = typer.Option([], "-p", "--param", help="Param for --pipeline, NAME=VALUE."),
    workspaces: list[str] = typer.Option(
        [], "-w", "--workspace", help="Bind a workspace to a host dir, NAME=DIR."
    ),
    pipeline: str | None = typer.Option(
        None, "--pipeline", help="Start this Pipeline (from -f or the catalog)."
    ),
    home: Path | None = typer.Option(
        None, "--home", envvar="RETRAIN_HOME", help="Data directory (run store)."
    ),
    sandbox: str = typer.Option("auto", "--sandbox", help="auto, bwrap or host."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Do not stream step logs."),
    output: str = typer.Option(
        "text", "-o", "--output", help="text, or json: each run's outcome and failure (no step logs)."
    ),
    feature_flag: list[str] = typer.Option(
        [], "--feature-flag", help="A Tekton feature flag, KEY=VALUE (e.g. enable-api-fields=alpha)."
    ),
    feature_flags: Path | None = typer.Option(
        None, "--feature-flags", help="A ConfigMap file named feature-flags (as on a cluster)."
    ),
) -> None:
    """Run the PipelineRuns and TaskRuns found in FILEs, or start --pipeline NAME, with Tekton's semantics.

    Exits 0 only when every run ends Succeeded=True (or is recorded pending: spec.status PipelineRunPending,
    started later with `retrain runs start`); 130 when runs were cancelled; 2 (and nothing starts) when the
    input is invalid.
    """
    from retrain.errors import InvalidInput

    with exits():
        if output not in ("text", "json"):
            raise InvalidInput(f"unknown output format {output!r}", hint="use text or json")
        if not files and not pipeline:
            raise InvalidInput(
                "nothing to run", hint="give -f FILE with a PipelineRun/TaskRun, or --pipeline NAME"
            )
        loaded = load(files)
        for ignored in loaded.ignored:
            print(
                f"note: {ignored.file}:{ignored.line}: {ignored.kind} {ignored.name or ''} {ignored.reason}",
                file=sys.stderr,
            )
        engine = build_engine(home, sandbox, quiet=quiet or output == "json")
        from retrain.engine.prepare import pipelinerun_for
        from retrain.tekton.model import Pipeline, PipelineRun, StepAction, Task, TaskRun

        for doc in loaded.documents:
            if isinstance(doc.obj, Task | Pipeline | StepAction):
                engine.catalog.add(doc.obj)
        for obj in loaded.objects:  # ConfigMaps, Secrets, ServiceAccounts: what the runs' pods read
            engine.catalog.objects.add(obj)
        runs: list[PipelineRun | TaskRun] = [
            d.obj for d in loaded.documents if isinstance(d.obj, PipelineRun | TaskRun)
        ]
        host_dirs = {k: Path(v) for k, v in parse_assignments(workspaces, flag="-w").items()}
        if pipeline:
            spec = engine.catalog.pipeline(pipeline).spec
            raw = parse_assignments(params, flag="-p")
            check_bindings(
                raw,
                host_dirs,
                declared_params=[p.name for p in spec.params],
                declared_workspaces=[w.name for w in spec.workspaces],
                owner=f'Pipeline "{pipeline}"',
            )
            # Workspaces not bound with -w get an emptyDir, as `tkn pipeline start` would ask for one.
            empty = [d.name for d in spec.workspaces if d.name not in host_dirs]
            runs = [pipelinerun_for(pipeline, typed_params(raw, spec), empty_dirs=empty)]
        elif params:
            raise InvalidInput("-p is only used with --pipeline", hint="set params in the run's spec.params")
        if not runs:
            raise InvalidInput(
                "the files hold no PipelineRun or TaskRun", hint="add one, or use --pipeline NAME"
            )
        if not pipeline and host_dirs:
            check_names(
                host_dirs,
                _workspaces_of(engine, runs),
                flag="-w",
                what="workspace",
                owner="the runs in these files or their Pipelines",
            )
        sources = {id(d.obj): d for d in loaded.documents}
        docs = [sources.get(id(r)) for r in runs]  # before _with_flags copies the runs
        runs = _with_flags(runs, feature_flags, feature_flag)
        submissions = [_submit(engine, r, host_dirs, doc, loaded) for r, doc in zip(runs, docs, strict=True)]
        if output == "text":
            raise typer.Exit(execute_and_report(engine, submissions))
        raise typer.Exit(_report_json(engine, submissions))


def _submit(
    engine: Engine, run: Any, host_dirs: dict[str, Path], doc: Document | None, loaded: LoadResult
) -> Submission:
    """Submit one run; a rejection at creation names the file and line of the field it is about: in the run,
    or in the Pipeline/Task the run names (a field path is relative to the document holding it)."""
    from retrain.engine.reasons import RunRejected
    from retrain.errors import InvalidInput, Location
    from retrain.tekton.problems import parse_field_path

    try:
        return engine.submit(run, host_dirs=host_dirs)
    except InvalidInput as exc:
        if doc is None or type(exc) not in (InvalidInput, RunRejected):
            raise
        if exc.location is not None and exc.location.file:
            raise
        field = exc.location.field if exc.location else None
        path = parse_field_path(field) if field and field.startswith(("spec.", "metadata.")) else None
        holder = next(
            (d for d in _documents_of(run, doc, loaded) if path and path in d.source.positions), None
        )
        if field and holder is not None:
            location = holder.source.location(field)
        else:  # not a field of these documents (or none named): point at the run itself
            location = Location(doc.file, doc.line, field)
        if isinstance(exc, RunRejected):
            raise RunRejected(exc.reason, exc.detail, location=location, hint=exc.hint) from exc
        raise InvalidInput(exc.message, location=location, hint=exc.hint) from exc


def _documents_of(run: Any, doc: Document, loaded: LoadResult) -> list[Document]:
    """The run's own document, then the loaded Pipeline or Task it refers to by name."""
    ref = getattr(run.spec, "pipeline_ref", None) or getattr(run.spec, "task_ref", None)
    kind = "Pipeline" if getattr(run.spec, "pipeline_ref", None) else "Task"
    named = [
        d
        for d in loaded.documents
        if ref is not None and ref.name and d.obj.kind == kind and d.obj.metadata.name == ref.name
    ]
    return [doc, *named]


def _with_flags(runs: list[Any], file: Path | None, pairs: list[str]) -> list[Any]:
    """Record the feature flags on each run (an annotation): the engine reads them; `runs rerun` too."""
    from retrain.engine.feature_flags import ANNOTATION, annotation_value, parse_assignments, read_configmap

    if file is None and not pairs:
        return runs
    values = {**(read_configmap(file) if file else {}), **parse_assignments(pairs)}
    text = annotation_value(values)
    out = []
    for run in runs:
        annotations = {**run.metadata.annotations, ANNOTATION: text}
        out.append(
            run.model_copy(update={"metadata": run.metadata.model_copy(update={"annotations": annotations})})
        )
    return out


def _workspaces_of(engine: Engine, runs: list[Any]) -> set[str]:
    """The workspaces the runs bind or their Pipelines/Tasks declare (what `-w NAME=DIR` may name)."""
    names: set[str] = set()
    for run in runs:
        names.update(w.name for w in run.spec.workspaces or [])
        ref = getattr(run.spec, "pipeline_ref", None)
        inline = getattr(run.spec, "pipeline_spec", None)
        spec = inline
        if spec is None and ref is not None and ref.name:
            try:
                spec = engine.catalog.pipeline(ref.name).spec
            except RetrainError:
                spec = None
        if spec is not None:
            names.update(w.name for w in spec.workspaces)
    return names


def _report_json(engine: Engine, submissions: list[Submission]) -> int:
    """`-o json`: one document per run with its outcome and, when it failed, why (`runs show`'s failure)."""
    import json
    from dataclasses import asdict

    from retrain.app.runs import failure_of

    results = execute_runs(engine, submissions)
    docs = []
    for result in results:
        failure = failure_of(engine.store, result.name)
        docs.append(
            {
                "run": result.name,
                "kind": result.kind,
                "succeeded": result.succeeded,
                "reason": result.reason,
                "message": result.message,
                "failure": None if failure is None else asdict(failure),
            }
        )
    print(json.dumps(docs, indent=2))
    return exit_code(results)


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)
