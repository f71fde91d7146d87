"""`retrain runs ...`: list, show, logs, cancel, rerun and prune the runs in the run store."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import typer

from retrain.cli.common import dump, open_store, print_table
from retrain.cli.exits import exits

app = typer.Typer(rich_markup_mode=None, no_args_is_help=True)

HOME = typer.Option(None, "--home", envvar="RETRAIN_HOME", help="Data directory (run store).")
MODES = ("Cancelled", "CancelledRunFinally", "StoppedRunFinally")


def _duration(record: Any) -> str:
    if record.started_at is None:
        return "-"
    end = record.completed_at
    if end is None:
        from datetime import UTC, datetime

        end = datetime.now(UTC)
    return f"{(end - record.started_at).total_seconds():.1f}s"


@app.command("list")
def list_runs(
    kind: str | None = typer.Option(None, "--kind", help="PipelineRun or TaskRun."),
    pipeline: str | None = typer.Option(None, "--pipeline", help="Only runs of this Pipeline."),
    state: str | None = typer.Option(None, "--state", help="Pending, Running, Succeeded, Failed, Cancelled."),
    label: list[str] = typer.Option([], "-l", "--label", help="KEY=VALUE label filter (repeatable)."),
    limit: int = typer.Option(50, "--limit", help="At most this many runs."),
    output: str = typer.Option("table", "-o", "--output", help="table, json or yaml."),
    home: Path | None = HOME,
) -> None:
    """Runs, newest first."""
    from retrain.cli.common import parse_assignments

    with exits():
        store = open_store(home)
        records = store.list_runs(
            kind=kind,  # type: ignore[arg-type]
            pipeline=pipeline,
            state=state,  # type: ignore[arg-type]
            label=parse_assignments(label, flag="-l") or None,
            limit=limit,
        )
        if output != "table":
            docs = [
                {
                    "name": r.name,
                    "kind": r.kind,
                    "pipeline": r.pipeline,
                    "state": r.state,
                    "reason": r.reason,
                    "created": r.created_at.isoformat(),
                    "duration": _duration(r),
                }
                for r in records
            ]
            print(dump(docs, output))
            return
        header = ("NAME", "KIND", "PIPELINE", "STATE", "REASON", "STARTED", "DURATION")
        rows = [
            (
                r.name,
                r.kind,
                r.pipeline or "-",
                r.state,
                r.reason or "-",
                r.started_at.strftime("%Y-%m-%d %H:%M:%S") if r.started_at else "-",
                _duration(r),
            )
            for r in records
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
    output: str = typer.Option("yaml", "-o", "--output", help="yaml or json."),
    taskruns: bool = typer.Option(True, "--taskruns/--no-taskruns", help="Also print the TaskRuns."),
    home: Path | None = HOME,
) -> None:
    """Print a run as a Tekton-shaped PipelineRun/TaskRun with its status."""
    with exits():
        docs = tekton_documents(open_store(home), name)
        print(dump(docs if taskruns else docs[0], output))


@app.command("logs")
def logs(
    name: str = typer.Argument(..., help="Run name."),
    follow: bool = typer.Option(False, "-f", "--follow", help="Keep following until the run ends."),
    task: str | None = typer.Option(None, "--task", help="Only this pipeline task (or TaskRun)."),
    step: str | None = typer.Option(None, "--step", help="Only this step."),
    home: Path | None = HOME,
) -> None:
    """Step logs of a run, prefixed [task/step]."""
    from retrain.app.runs import LogsRequest, log_sources_of, source_lines
    from retrain.runs.logs import follow as follow_logs

    with exits():
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
                print(f"[{source.taskrun}/{source.step}] {line}")


@app.command("cancel")
def cancel(
    name: str = typer.Argument(..., help="Run name."),
    mode: str = typer.Option(
        "Cancelled", "--mode", help="Cancelled, CancelledRunFinally or StoppedRunFinally."
    ),
    home: Path | None = HOME,
) -> None:
    """Ask the engine running NAME to stop (it may run in another process)."""
    from retrain.errors import InvalidInput

    with exits():
        if mode not in MODES:
            raise InvalidInput(f"unknown mode {mode!r}", hint=f"use one of {', '.join(MODES)}")
        open_store(home).request_cancel(name, mode)  # type: ignore[arg-type]
        print(f"{name}: {mode} requested")


@app.command("rerun")
def rerun(
    name: str = typer.Argument(..., help="Run name."),
    from_failed: bool = typer.Option(False, "--from-failed", help="Reuse the tasks that succeeded."),
    sandbox: str = typer.Option("auto", "--sandbox", help="auto, bwrap or host."),
    quiet: bool = typer.Option(False, "-q", "--quiet"),
    home: Path | None = HOME,
) -> None:
    """Run NAME again as a new run; with --from-failed only its failed (and not-run) tasks run again."""
    from retrain.cli.common import build_engine, execute_and_report
    from retrain.engine.rerun import prepare_rerun

    with exits():
        engine = build_engine(home, sandbox, quiet=quiet)
        submission = prepare_rerun(engine, name, from_failed=from_failed)
        print(f"re-running {name} as {submission.name}", file=sys.stderr)
        raise typer.Exit(execute_and_report(engine, [submission]))


@app.command("prune")
def prune(
    keep: int = typer.Option(..., "--keep", min=0, help="Keep this many newest finished runs."),
    home: Path | None = HOME,
) -> None:
    """Delete old finished runs (records, logs and run directories); active runs are never touched."""
    with exits():
        removed = open_store(home).prune(keep=keep)
        print(f"pruned {len(removed)} run(s)")
