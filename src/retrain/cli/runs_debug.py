"""`retrain runs debug RUN`: a shell in a step paused at a TaskRun `debug` breakpoint, or its resumption."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import typer

from retrain.cli.common import open_store
from retrain.cli.exits import exits


def debug_command(
    name: str = typer.Argument(..., help="Run name."),
    task: str | None = typer.Option(None, "--task", help="The paused pipeline task (or TaskRun)."),
    resume: bool = typer.Option(False, "--continue", help="Do what debug-continue does, no shell."),
    fail: bool = typer.Option(False, "--fail-continue", help="Do what debug-fail-continue does, no shell."),
    sandbox: str = typer.Option("auto", "--sandbox", help="auto, bwrap or host (the shell's sandbox)."),
    output: str = typer.Option(
        "text", "-o", "--output", help="text or json (with --continue/--fail-continue)."
    ),
    home: Path | None = typer.Option(
        None, "--home", envvar="RETRAIN_HOME", help="Data directory (run store)."
    ),
) -> None:
    """Open a shell in the step paused at a debug breakpoint (its mounts, env and workingDir), where
    /tekton/debug/scripts/debug-[beforestep-][fail-]continue resume it; or resume it with --continue or
    --fail-continue."""
    from retrain.app.debug import Action, DebugRequest, debug_step
    from retrain.errors import InvalidInput

    with exits():
        if output not in ("text", "json"):
            raise InvalidInput(f"unknown output {output!r}", hint="use text or json")
        if resume and fail:
            raise InvalidInput("--continue and --fail-continue exclude each other", hint="give one of them")
        action: Action = "continue" if resume else "fail-continue" if fail else "shell"
        result = debug_step(open_store(home), DebugRequest(name, task, action), sandbox=sandbox)
        p = result.pause
        if result.outcome == "resumed":
            if output == "json":
                doc = {
                    "run": name,
                    "taskrun": p.taskrun,
                    "step": p.step,
                    "breakpoint": p.kind,
                    "action": action,
                }
                print(json.dumps(doc))
            else:
                print(f"{p.taskrun}/{p.step}: {result.reason}")
            return
        print(f"step {p.step!r} of {p.taskrun} ({p.kind} breakpoint): {result.reason}", file=sys.stderr)
        done = subprocess.run(list(result.argv), env=result.env, cwd=result.cwd, check=False)
        raise typer.Exit(done.returncode)
