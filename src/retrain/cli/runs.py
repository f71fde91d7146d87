"""`retrain runs ...`: list, show, logs, cancel, rerun, start (a pending run) and prune the runs."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from retrain.cli.common import dump, open_store, print_table
from retrain.cli.exits import exits

if TYPE_CHECKING:
    from retrain.app.runs import RunDescription, RunSummary
    from retrain.engine.engine import Engine, Submission

app = typer.Typer(rich_markup_mode=None, no_args_is_help=True)

HOME = typer.Option(None, "--home", envvar="RETRAIN_HOME", help="Data directory (run store).")
MODES = ("Cancelled", "CancelledRunFinally", "StoppedRunFinally")


def _check_output(output: str, allowed: tuple[str, ...]) -> None:
    from retrain.errors import InvalidInput, Location

    if output not in allowed:
        raise InvalidInput(
            f"unknown output format {output!r}",
            location=Location(field="-o/--output"),
            hint=f"use one of {', '.join(allowed)}",
        )


def _time(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S") if at else "-"


def _secs(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def _plain(value: Any) -> Any:
    """A use case's frozen result as JSON-ready values (datetimes as ISO-8601, tuples as lists)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _summary_doc(r: RunSummary) -> dict[str, Any]:
    doc: dict[str, Any] = _plain(asdict(r))
    return doc


@app.command("list")
def list_runs(
    model: str | None = typer.Option(None, "--model", help="Only runs of this model."),
    trigger: str | None = typer.Option(
        None, "--trigger", help="Only runs started so: manual, cron, git-push, drift-alert, api."
    ),
    state: str | None = typer.Option(None, "--state", help="Pending, Running, Succeeded, Failed, Cancelled."),
    kind: str | None = typer.Option(None, "--kind", help="PipelineRun or TaskRun."),
    pipeline: str | None = typer.Option(None, "--pipeline", help="Only runs of this Pipeline."),
    label: list[str] = typer.Option([], "-l", "--label", help="KEY=VALUE label filter (repeatable)."),
    last: int = typer.Option(50, "--last", "--limit", help="The newest N runs that match."),
    output: str = typer.Option("table", "-o", "--output", help="table, json or yaml."),
    home: Path | None = HOME,
) -> None:
    """Runs, newest first, with the model and trigger that started them ("-" when unknown)."""
    from retrain.app.runs import ListRunsRequest
    from retrain.app.runs import list_runs as list_use_case
    from retrain.cli.common import parse_assignments

    with exits():
        _check_output(output, ("table", "json", "yaml"))
        request = ListRunsRequest(
            model=model,
            trigger=trigger,
            state=state,
            kind=kind,
            pipeline=pipeline,
            labels=parse_assignments(label, flag="-l"),
            last=last,
        )
        found = list_use_case(open_store(home), request)
        if output != "table":
            print(dump([_summary_doc(r) for r in found.runs], output))
            return
        header = ("NAME", "MODEL", "TRIGGER", "PIPELINE", "STATE", "REASON", "STARTED", "DURATION")
        rows = [
            (
                r.name,
                r.model or "-",
                r.trigger or "-",
                r.pipeline or ("-" if r.kind == "PipelineRun" else "(TaskRun)"),
                r.state,
                r.reason or "-",
                _time(r.started_at),
                _secs(r.duration_s),
            )
            for r in found.runs
        ]
        print_table(header, rows)


def tekton_documents(store: Any, name: str) -> list[dict[str, Any]]:
    """The run as Tekton would show it: the run object with its status, then its TaskRuns."""
    from retrain.runs.documents import run_document, taskrun_documents

    doc = run_document(store, name)
    return [doc, *taskrun_documents(store, name)] if doc["kind"] == "PipelineRun" else [doc]


@app.command("show")
def show(
    name: str = typer.Argument(..., help="Run name."),
    output: str = typer.Option(
        "text", "-o", "--output", help="text (a short description), or yaml/json (the Tekton documents)."
    ),
    lines: int = typer.Option(15, "--lines", min=0, help="Log lines of the failing step to show."),
    taskruns: bool = typer.Option(
        True, "--taskruns/--no-taskruns", help="With -o yaml/json: also the TaskRuns."
    ),
    home: Path | None = HOME,
) -> None:
    """Describe a run: params, tasks with state, duration and reason, results, and why it failed.

    -o yaml or -o json prints the Tekton PipelineRun/TaskRun documents with their status instead.
    """
    from retrain.app.runs import describe_run

    with exits():
        _check_output(output, ("text", "yaml", "json"))
        store = open_store(home)
        if output != "text":
            docs = tekton_documents(store, name)
            print(dump(docs if taskruns else docs[0], output))
            return
        print(describe_text(describe_run(store, name, lines=lines)), end="")


def describe_text(d: RunDescription) -> str:
    """A `tkn pipelinerun describe`-like view; plain aligned text, never truncated."""
    out: list[str] = []
    status = d.state + (f" ({d.reason})" if d.reason and d.reason != d.state else "")
    fields = [
        ("Name", d.name),
        ("Kind", d.kind),
        ("Pipeline", d.pipeline or "-"),
        ("Model", d.model or "-"),
        ("Trigger", d.trigger or "-"),
        ("Status", status),
        ("Message", d.message or "-"),
        ("Started", _time(d.started_at)),
        ("Duration", _secs(d.duration_s)),
    ]
    if d.rerun_of:
        fields.append(("Re-run of", d.rerun_of))
    if d.outcome:
        fields.append(("Outcome", d.outcome))
    fields += [("Paused", message) for message in d.paused]  # debug breakpoints (retrain runs debug)
    out += [f"{k + ':':<11}{v}" for k, v in fields]
    if d.params:
        out += ["", "Params", *_columns([(k, v) for k, v in d.params])]
    if d.tasks:
        rows = [
            (
                t.name + (" (finally)" if t.is_finally else ""),
                t.taskrun or "-",
                t.state,
                _secs(t.duration_s),
                (t.reason or "-") + (f" (retries: {t.retries})" if t.retries else ""),
            )
            for t in d.tasks
        ]
        out += ["", "Tasks", *_columns([("NAME", "TASKRUN", "STATE", "DURATION", "REASON"), *rows])]
    task_results = [(f"{t.name}.{k}", v) for t in d.tasks for k, v in t.results]
    if d.results or task_results:
        out += ["", "Results", *_columns([*d.results, *task_results])]
    f = d.failure
    if f is not None:
        where = ", ".join(
            x for x in (f"task {f.task}" if f.task else "", f"step {f.step}" if f.step else "") if x
        )
        out += ["", f"Failed{' in ' + where if where else ''}: {f.reason}: {f.message}"]
        if f.log_tail:
            out += [f"Last {len(f.log_tail)} log lines of {f.step}:", *(f"  {line}" for line in f.log_tail)]
        out += [f"Whole log: {f.log_command}"]
    return "\n".join(out) + "\n"


def _columns(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(c) for c in col) for col in zip(*rows, strict=True)]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]


@app.command("logs")
def logs(
    name: str = typer.Argument(..., help="Run name."),
    follow: bool = typer.Option(False, "-f", "--follow", help="Keep following until the run ends."),
    task: str | None = typer.Option(None, "--task", help="Only this pipeline task (or TaskRun)."),
    step: str | None = typer.Option(None, "--step", help="Only this step."),
    output: str = typer.Option("text", "-o", "--output", help="text, or json (one object per line)."),
    home: Path | None = HOME,
) -> None:
    """Step logs of a run, prefixed [taskrun/step]; -o json: one JSON object per line (not with -f)."""
    from retrain.app.runs import LogsRequest, log_sources_of, source_lines
    from retrain.runs.logs import follow as follow_logs

    with exits():
        _check_output(output, ("text", "json"))
        store = open_store(home)
        request = LogsRequest(run=name, task=task, step=step)
        sources = log_sources_of(store, request)  # NotFound (with a suggestion) for an unknown run/task/step
        if follow:
            asyncio.run(
                follow_logs(
                    lambda: log_sources_of(store, request, strict=False),
                    lambda: store.get_run(name).finished,
                    lambda line: print(line, flush=True),
                )
            )
            return
        for source in sources:
            for line in source_lines(source):
                if output == "json":
                    entry = {"taskrun": source.taskrun, "step": source.step, "retry": source.retry}
                    print(json.dumps({**entry, "line": line}))
                else:
                    print(f"[{source.taskrun}/{source.step}] {line}")


@app.command("cancel")
def cancel(
    name: str = typer.Argument(..., help="Run name."),
    mode: str = typer.Option(
        "Cancelled", "--mode", help="Cancelled, CancelledRunFinally or StoppedRunFinally."
    ),
    output: str = typer.Option("text", "-o", "--output", help="text or json."),
    home: Path | None = HOME,
) -> None:
    """Ask the engine running NAME to stop (it may run in another process)."""
    from retrain.errors import InvalidInput

    with exits():
        _check_output(output, ("text", "json"))
        if mode not in MODES:
            raise InvalidInput(f"unknown mode {mode!r}", hint=f"use one of {', '.join(MODES)}")
        open_store(home).request_cancel(name, mode)  # type: ignore[arg-type]
        if output == "json":
            print(json.dumps({"run": name, "requested": mode}))
        else:
            print(f"{name}: {mode} requested")


def _execute(engine: Engine, submission: Submission, output: str, extra: dict[str, str]) -> int:
    """Run one submission in this process: the live report, or `-o json` (the outcome and any failure)."""
    from retrain.app.runs import failure_of
    from retrain.cli.common import execute_and_report, execute_runs, exit_code

    if output == "text":
        return execute_and_report(engine, [submission])
    results = execute_runs(engine, [submission])
    failure = failure_of(engine.store, submission.name)
    doc = {
        "run": submission.name,
        **extra,
        "succeeded": results[0].succeeded,
        "reason": results[0].reason,
        "message": results[0].message,
        "failure": None if failure is None else _plain(asdict(failure)),
    }
    print(json.dumps(doc, indent=2))
    return exit_code(results)


@app.command("rerun")
def rerun(
    name: str = typer.Argument(..., help="Run name."),
    from_failed: bool = typer.Option(False, "--from-failed", help="Reuse the tasks that succeeded."),
    sandbox: str = typer.Option("auto", "--sandbox", help="auto, bwrap or host."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Do not stream step logs."),
    output: str = typer.Option("text", "-o", "--output", help="text or json (the new run's outcome)."),
    home: Path | None = HOME,
) -> None:
    """Run NAME again as a new run; with --from-failed only its failed (and not-run) tasks run again.

    Runs started from files re-run with the Pipelines and Tasks they used, kept in the run store.
    """
    from retrain.app.runs import RerunRequest, prepare_rerun
    from retrain.cli.common import build_engine

    with exits():
        _check_output(output, ("text", "json"))
        engine = build_engine(home, sandbox, quiet=quiet or output == "json")
        submission = prepare_rerun(engine, RerunRequest(run=name, from_failed=from_failed))
        print(f"re-running {name} as {submission.name}", file=sys.stderr)
        raise typer.Exit(_execute(engine, submission, output, {"rerun_of": name}))


@app.command("start")
def start(
    name: str = typer.Argument(
        ..., help="Run name (a PipelineRun created with spec.status PipelineRunPending)."
    ),
    sandbox: str = typer.Option("auto", "--sandbox", help="auto, bwrap or host."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Do not stream step logs."),
    output: str = typer.Option("text", "-o", "--output", help="text or json (the run's outcome)."),
    home: Path | None = HOME,
) -> None:
    """Start a pending run (clears its spec.status PipelineRunPending, as editing it does on a cluster).

    It runs in this process under its own name; exits as `retrain run` does (0 succeeded, 1 failed,
    130 cancelled); 4 when the run is not pending, 3 when there is no such run.
    """
    from retrain.app.runs import StartRequest, prepare_start
    from retrain.cli.common import build_engine

    with exits():
        _check_output(output, ("text", "json"))
        engine = build_engine(home, sandbox, quiet=quiet or output == "json")
        submission = prepare_start(engine, StartRequest(run=name))
        raise typer.Exit(_execute(engine, submission, output, {}))


@app.command("prune")
def prune(
    keep: int = typer.Option(..., "--keep", min=0, help="Keep this many newest finished runs."),
    output: str = typer.Option("text", "-o", "--output", help="text or json."),
    home: Path | None = HOME,
) -> None:
    """Delete old finished runs (records, logs and run directories); active runs are never touched."""
    with exits():
        _check_output(output, ("text", "json"))
        removed = open_store(home).prune(keep=keep)
        if output == "json":
            print(json.dumps({"pruned": removed}))
        else:
            print(f"pruned {len(removed)} run(s)")
