"""Artifacts (TEP-0147): provenance files the steps write, in the TaskRun status and passed between tasks.

As Tekton does it (pkg/reconciler/taskrun/resources/apply.go ApplyArtifacts, pkg/entrypoint/entrypointer.go,
pkg/pod/status.go, pkg/apis/pipeline/v1/artifact_types.go, pipelinerun resources.PropagateArtifacts):
- `$(step.artifacts.path)` is /tekton/steps/step-<name>/artifacts/provenance.json, one per step, and
  `$(artifacts.path)` is /tekton/artifacts/provenance.json, one per TaskRun; each holds
  `{"inputs": [{name, values: [{uri, digest}]}], "outputs": [{name, values, buildOutput}]}`.
- Before a step starts, `$(steps.<step>.inputs.<name>)` / `$(steps.<step>.outputs.<name>)` in its script,
  command, args and env become the JSON of that artifact's values from the earlier step's file.
- The TaskRun status gets each step's `inputs`/`outputs` and `artifacts`: the task file merged with
  every step's (Artifacts.Merge: same name -> values joined without duplicates, buildOutput only set).
- A later pipeline task's `$(tasks.<task>.inputs.<name>)` / `$(tasks.<task>.outputs.<name>)` (and the
  first one without a name) become the JSON of those values.
Nothing here runs for a step or task that does not mention artifacts.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from retrain.engine.sandbox import Mount
from retrain.tekton.model import Step

log = logging.getLogger(__name__)

TASK_DIR = "/tekton/artifacts"
_STEP_REF = re.compile(r"\$\(steps\.([^.)]+)\.(inputs|outputs)\.([^.)]+)\)")
_MENTION = ("artifacts.path", ".inputs.", ".outputs.")


class _Attempt(Protocol):
    """What this module needs of a TaskRun try (attempt.Attempt)."""

    root: Path
    dirs: dict[str, Path]
    mounts: list[Mount]

    def visible(self, target: str) -> str: ...


def _mentions(text: str) -> bool:
    return any(marker in text for marker in _MENTION)


def _step_texts(step: Step) -> list[str]:
    return [
        step.script or "",
        *(step.command or []),
        *(step.args or []),
        *(e.value or "" for e in step.env or []),
    ]


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _values(doc: dict[str, Any], kind: str, name: str | None) -> list[Any] | None:
    items = [a for a in doc.get(kind) or [] if isinstance(a, dict)]
    for item in items:
        if name is None or item.get("name") == name:
            return list(item.get("values") or [])
    return None


def _filler(attempt: _Attempt, name: str) -> Callable[[str], str]:
    """Fills one text of step `name`: its artifact paths and earlier steps' artifact values."""
    steps_dir = attempt.dirs["/tekton/steps"]
    (steps_dir / f"step-{name}" / "artifacts").mkdir(parents=True, exist_ok=True)
    if TASK_DIR not in attempt.dirs:  # one task-level directory per try, mounted like the others
        attempt.dirs[TASK_DIR] = attempt.root / "artifacts"
        attempt.dirs[TASK_DIR].mkdir(parents=True, exist_ok=True)
        attempt.mounts.append(Mount(attempt.dirs[TASK_DIR], TASK_DIR))
    own = attempt.visible(f"/tekton/steps/step-{name}/artifacts/provenance.json")
    task = attempt.visible(f"{TASK_DIR}/provenance.json")

    def value(match: re.Match[str]) -> str:
        doc = _read(steps_dir / f"step-{match.group(1)}" / "artifacts" / "provenance.json")
        found = _values(doc, match.group(2), match.group(3))
        if found is None:  # Tekton logs the error and runs the step with the text as it was
            log.error("values for template %s not found", match.group(0))
            return match.group(0)
        return json.dumps(found, separators=(",", ":"))

    def fill(text: str) -> str:
        if not _mentions(text):
            return text
        text = text.replace("$(step.artifacts.path)", own).replace("$(artifacts.path)", task)
        return _STEP_REF.sub(value, text)

    return fill


def prepare_step(attempt: _Attempt, name: str, step: Step) -> Step:
    """The step's script, command and args with artifacts filled in (Tekton's entrypoint does it at start)."""
    texts = [step.script or "", *(step.command or []), *(step.args or [])]
    if not any(_mentions(t) for t in texts):
        return step
    fill = _filler(attempt, name)
    return step.model_copy(
        update={
            "script": fill(step.script) if step.script is not None else None,
            "command": [fill(c) for c in step.command] if step.command else step.command,
            "args": [fill(a) for a in step.args] if step.args else step.args,
        }
    )


def fill_env(attempt: _Attempt, name: str, env: dict[str, str]) -> dict[str, str]:
    """The step's environment with artifacts filled in, as the entrypoint rewrites os.Environ."""
    if not any(_mentions(v) for v in env.values()):
        return env
    fill = _filler(attempt, name)
    return {k: fill(v) for k, v in env.items()}


def _merge(into: dict[str, list[dict[str, Any]]], doc: dict[str, Any]) -> None:
    """Tekton's Artifacts.Merge, keeping the order in which names first appear."""
    for kind in ("inputs", "outputs"):
        merged = {a["name"]: a for a in into[kind]}
        for artifact in doc.get(kind) or []:
            if not isinstance(artifact, dict):
                continue
            name = str(artifact.get("name", ""))
            target = merged.get(name)
            if target is None:
                target = {"name": name, "values": []}
                merged[name] = target
                into[kind].append(target)
            if kind == "outputs" and artifact.get("buildOutput"):
                target["buildOutput"] = True
            for value in artifact.get("values") or []:
                if value not in target["values"]:
                    target["values"].append(value)


def add_to_status(status: dict[str, Any], attempt: _Attempt) -> dict[str, Any]:
    """The TaskRun status with step `inputs`/`outputs` and the merged `artifacts` (when any were written)."""
    steps_dir = attempt.dirs["/tekton/steps"]
    task_file = attempt.dirs.get(TASK_DIR)
    if task_file is None:  # no step of this try mentioned artifacts
        return status
    merged: dict[str, list[dict[str, Any]]] = {"inputs": [], "outputs": []}
    _merge(merged, _read(task_file / "provenance.json"))
    for step in status.get("steps", []):
        doc = _read(steps_dir / f"step-{step.get('name')}" / "artifacts" / "provenance.json")
        for kind in ("inputs", "outputs"):
            if doc.get(kind):
                step[kind] = doc[kind]
        _merge(merged, doc)
    found = {k: v for k, v in merged.items() if v}
    if found:
        status["artifacts"] = found
    return status


def task_replacements(task: str, status: dict[str, Any]) -> dict[str, str]:
    """`tasks.<task>.inputs[.<name>]` / `tasks.<task>.outputs[.<name>]` from a finished TaskRun's status."""
    artifacts = status.get("artifacts") or {}
    out: dict[str, str] = {}
    for kind in ("inputs", "outputs"):
        for i, artifact in enumerate(artifacts.get(kind) or []):
            text = json.dumps(artifact.get("values") or [], separators=(",", ":"))
            out[f"tasks.{task}.{kind}.{artifact.get('name')}"] = text
            if i == 0:
                out[f"tasks.{task}.{kind}"] = text
    return out
